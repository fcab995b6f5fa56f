//! Routes of app passwords: create (the secret shown once), list (no secrets), revoke.

use std::sync::Arc;

use dbx_shared::api::{AppPasswordList, CreateAppPasswordRequest};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::{json_body, reply, user, with};
use crate::auth::Auth;
use crate::error::AppResult;

pub fn routes(auth: &Arc<Auth>) -> BoxedFilter<(Response,)> {
    let create = warp::path!("app-passwords")
        .and(warp::post())
        .and(with(auth.clone()))
        .and(user(auth))
        .and(json_body())
        .then(create);
    let list = warp::path!("app-passwords")
        .and(warp::get())
        .and(with(auth.clone()))
        .and(user(auth))
        .then(list);
    let revoke = warp::path!("app-passwords" / String)
        .and(warp::delete())
        .and(with(auth.clone()))
        .and(user(auth))
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
    auth: Arc<Auth>,
    user: String,
    body: CreateAppPasswordRequest,
) -> AppResult<Response> {
    let created = auth.create_app_password(&user, &body.name).await?;
    Ok(reply::json(StatusCode::CREATED, &created))
}

async fn list(auth: Arc<Auth>, user: String) -> AppResult<Response> {
    let app_passwords = auth.list_app_passwords(&user).await?;
    Ok(reply::json(
        StatusCode::OK,
        &AppPasswordList { app_passwords },
    ))
}

async fn revoke(id: String, auth: Arc<Auth>, user: String) -> AppResult<Response> {
    auth.revoke_app_password(&user, &id).await?;
    Ok(reply::no_content())
}
