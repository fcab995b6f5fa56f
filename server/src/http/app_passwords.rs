//! Routes of app passwords: create (the secret shown once), list (no secrets), revoke.

use std::sync::Arc;

use dbx_shared::api::{AppPasswordList, CreateAppPasswordRequest};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::{json_body, reply, user, with_app};
use crate::app::App;
use crate::error::AppResult;

pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let create = warp::path!("app-passwords")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(user(app.clone()))
        .and(json_body())
        .then(create);
    let list = warp::path!("app-passwords")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(user(app.clone()))
        .then(list);
    let revoke = warp::path!("app-passwords" / String)
        .and(warp::delete())
        .and(with_app(app.clone()))
        .and(user(app))
        .then(revoke);
    create
        .or(list)
        .unify()
        .or(revoke)
        .unify()
        .map(reply::respond)
        .boxed()
}

async fn create(
    app: Arc<App>,
    user: String,
    body: CreateAppPasswordRequest,
) -> AppResult<Response> {
    let created = app.auth.create_app_password(&user, &body.name).await?;
    Ok(reply::json(StatusCode::CREATED, &created))
}

async fn list(app: Arc<App>, user: String) -> AppResult<Response> {
    let app_passwords = app.auth.list_app_passwords(&user).await?;
    Ok(reply::json(
        StatusCode::OK,
        &AppPasswordList { app_passwords },
    ))
}

async fn revoke(id: String, app: Arc<App>, user: String) -> AppResult<Response> {
    app.auth.revoke_app_password(&user, &id).await?;
    Ok(reply::no_content())
}
