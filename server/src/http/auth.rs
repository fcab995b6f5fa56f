//! Routes of the Auth section: register, login, refresh, logout, me.

use std::net::IpAddr;
use std::sync::Arc;

use dbx_shared::api::{Credentials, MeReply, RefreshRequest, RegisterReply};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::{client_ip, json_body, reply, user, with_app};
use crate::app::App;
use crate::error::{AppError, AppResult};

pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let register = warp::path!("auth" / "register")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(json_body())
        .and(client_ip(&app))
        .then(register);
    let login = warp::path!("auth" / "login")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(json_body())
        .and(client_ip(&app))
        .then(login);
    let refresh = warp::path!("auth" / "refresh")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(json_body())
        .then(refresh);
    let logout = warp::path!("auth" / "logout")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(user(app.clone()))
        .and(json_body())
        .then(logout);
    let me = warp::path!("me")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(user(app))
        .then(me);
    register
        .or(login)
        .unify()
        .or(refresh)
        .unify()
        .or(logout)
        .unify()
        .or(me)
        .unify()
        .map(reply::respond)
        .boxed()
}

async fn register(app: Arc<App>, body: Credentials, ip: Option<IpAddr>) -> AppResult<Response> {
    let user = app.auth.register(&body.email, &body.password, ip).await?;
    Ok(reply::json(
        StatusCode::CREATED,
        &RegisterReply {
            user: user.to_api(),
        },
    ))
}

async fn login(app: Arc<App>, body: Credentials, ip: Option<IpAddr>) -> AppResult<Response> {
    let tokens = app.auth.login(&body.email, &body.password, ip).await?;
    Ok(reply::json(StatusCode::OK, &tokens))
}

async fn refresh(app: Arc<App>, body: RefreshRequest) -> AppResult<Response> {
    let tokens = app.auth.refresh(&body.refresh_token).await?;
    Ok(reply::json(StatusCode::OK, &tokens))
}

async fn logout(app: Arc<App>, user: String, body: RefreshRequest) -> AppResult<Response> {
    app.auth.logout(&user, &body.refresh_token).await?;
    Ok(reply::no_content())
}

async fn me(app: Arc<App>, user_id: String) -> AppResult<Response> {
    let user = app
        .auth
        .user(&user_id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("the account no longer exists".into()))?;
    let usage_bytes = app.files.usage(&user_id).await?;
    Ok(reply::json(
        StatusCode::OK,
        &MeReply {
            id: user.id,
            email: user.email,
            created_at: user.created_at,
            usage_bytes,
            quota_bytes: app.files.quota_bytes(),
        },
    ))
}
