//! Routes of app passwords: create (the secret shown once), list (no secrets), revoke.

use std::sync::Arc;

use dbx_shared::api::{AppPassword, AppPasswordList, CreateAppPasswordRequest};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::openapi::{Conflict, NotFound};
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

/// Make an app password; the password is shown only in this reply.
#[utoipa::path(
    post,
    path = "/api/v1/app-passwords",
    operation_id = "create_app_password",
    tag = "app-passwords",
    request_body = CreateAppPasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The app password, with its `password`", body = AppPassword, links(
            ("revoke" = (operation_id = "revoke_app_password", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 409, response = Conflict),
    ),
)]
async fn create(
    auth: Arc<Auth>,
    user: String,
    body: CreateAppPasswordRequest,
) -> AppResult<Response> {
    let created = auth.create_app_password(&user, &body.name).await?;
    Ok(reply::json(StatusCode::CREATED, &created))
}

/// The caller's app passwords, oldest first, never a password.
#[utoipa::path(
    get,
    path = "/api/v1/app-passwords",
    operation_id = "list_app_passwords",
    tag = "app-passwords",
    security(("bearer" = [])),
    responses((status = 200, description = "The app passwords", body = AppPasswordList)),
)]
async fn list(auth: Arc<Auth>, user: String) -> AppResult<Response> {
    let app_passwords = auth.list_app_passwords(&user).await?;
    Ok(reply::json(
        StatusCode::OK,
        &AppPasswordList { app_passwords },
    ))
}

/// Revoke an app password at once.
#[utoipa::path(
    delete,
    path = "/api/v1/app-passwords/{id}",
    operation_id = "revoke_app_password",
    tag = "app-passwords",
    params(("id" = String, Path, description = "The app password's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, response = NotFound),
    ),
)]
async fn revoke(id: String, auth: Arc<Auth>, user: String) -> AppResult<Response> {
    auth.revoke_app_password(&user, &id).await?;
    Ok(reply::no_content())
}
