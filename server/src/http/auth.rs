//! Routes of the Auth section: register, login, refresh, logout, me.

use std::net::IpAddr;
use std::sync::Arc;

use dbx_shared::api::{Credentials, MeReply, RefreshRequest, RegisterReply};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::client_addr::TrustedProxies;
use super::{client_ip, json_body, reply, user, with};
use crate::auth::Auth;
use crate::error::{AppError, AppResult};
use crate::files::Files;

pub fn routes(
    auth: &Arc<Auth>,
    files: &Arc<Files>,
    proxies: &Arc<TrustedProxies>,
) -> BoxedFilter<(Response,)> {
    let register = warp::path!("auth" / "register")
        .and(warp::post())
        .and(with(auth.clone()))
        .and(json_body())
        .and(client_ip(proxies))
        .then(register);
    let login = warp::path!("auth" / "login")
        .and(warp::post())
        .and(with(auth.clone()))
        .and(json_body())
        .and(client_ip(proxies))
        .then(login);
    let refresh = warp::path!("auth" / "refresh")
        .and(warp::post())
        .and(with(auth.clone()))
        .and(json_body())
        .then(refresh);
    let logout = warp::path!("auth" / "logout")
        .and(warp::post())
        .and(with(auth.clone()))
        .and(user(auth))
        .and(json_body())
        .then(logout);
    let me = warp::path!("me")
        .and(warp::get())
        .and(with(auth.clone()))
        .and(with(files.clone()))
        .and(user(auth))
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

async fn register(auth: Arc<Auth>, body: Credentials, ip: Option<IpAddr>) -> AppResult<Response> {
    let user = auth.register(&body.email, &body.password, ip).await?;
    Ok(reply::json(
        StatusCode::CREATED,
        &RegisterReply {
            user: user.to_api(),
        },
    ))
}

async fn login(auth: Arc<Auth>, body: Credentials, ip: Option<IpAddr>) -> AppResult<Response> {
    let tokens = auth.login(&body.email, &body.password, ip).await?;
    Ok(reply::json(StatusCode::OK, &tokens))
}

async fn refresh(auth: Arc<Auth>, body: RefreshRequest) -> AppResult<Response> {
    let tokens = auth.refresh(&body.refresh_token).await?;
    Ok(reply::json(StatusCode::OK, &tokens))
}

async fn logout(auth: Arc<Auth>, user: String, body: RefreshRequest) -> AppResult<Response> {
    auth.logout(&user, &body.refresh_token).await?;
    Ok(reply::no_content())
}

async fn me(auth: Arc<Auth>, files: Arc<Files>, user_id: String) -> AppResult<Response> {
    let user = auth
        .user(&user_id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("the account no longer exists".into()))?;
    let usage_bytes = files.usage(&user_id).await?;
    Ok(reply::json(
        StatusCode::OK,
        &MeReply {
            id: user.id,
            email: user.email,
            created_at: user.created_at,
            usage_bytes,
            quota_bytes: files.quota_bytes(),
        },
    ))
}
