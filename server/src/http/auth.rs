//! Routes of the Auth section: register, login, refresh, logout, me.

use std::net::IpAddr;
use std::sync::Arc;

use dbx_shared::api::{Credentials, MeReply, RefreshRequest, RegisterReply, TokenReply};
use dbx_shared::ErrorBody;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::client_addr::TrustedProxies;
use super::openapi::{BadRequest, RateLimited, Unauthorized};
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

/// Register an account.
///
/// The e-mail is trimmed and lower-cased; the password is 8 to 1,024 characters.
/// Registrations are throttled per client address.
#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    operation_id = "register",
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 201, description = "The account was made", body = RegisterReply),
        (status = 400, response = BadRequest),
        (status = 403, description = "Registration is closed on this server: accounts are made by its administrator", body = ErrorBody),
        (status = 409, description = "The e-mail is already registered", body = ErrorBody),
        (status = 429, response = RateLimited),
    ),
)]
async fn register(auth: Arc<Auth>, body: Credentials, ip: Option<IpAddr>) -> AppResult<Response> {
    let user = auth.register(&body.email, &body.password, ip).await?;
    Ok(reply::json(
        StatusCode::CREATED,
        &RegisterReply {
            user: user.to_api(),
        },
    ))
}

/// Sign in: an access token and a refresh token.
///
/// A wrong password and an unknown e-mail get the same 401. Attempts are throttled per
/// account and client address together, and per client address.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    operation_id = "login",
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = TokenReply),
        (status = 401, response = Unauthorized),
        (status = 429, response = RateLimited),
    ),
)]
async fn login(auth: Arc<Auth>, body: Credentials, ip: Option<IpAddr>) -> AppResult<Response> {
    let tokens = auth.login(&body.email, &body.password, ip).await?;
    Ok(reply::json(StatusCode::OK, &tokens))
}

/// Trade a refresh token for new tokens.
///
/// The old refresh token stops working; presenting it again after the grace period ends
/// the whole session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    operation_id = "refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenReply),
        (status = 401, response = Unauthorized),
    ),
)]
async fn refresh(auth: Arc<Auth>, body: RefreshRequest) -> AppResult<Response> {
    let tokens = auth.refresh(&body.refresh_token).await?;
    Ok(reply::json(StatusCode::OK, &tokens))
}

/// End the session of a refresh token (only the caller's own).
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    operation_id = "logout",
    tag = "auth",
    request_body = RefreshRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "The session ended")),
)]
async fn logout(auth: Arc<Auth>, user: String, body: RefreshRequest) -> AppResult<Response> {
    auth.logout(&user, &body.refresh_token).await?;
    Ok(reply::no_content())
}

/// The caller's account, usage and quota.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "get_me",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's account", body = MeReply)),
)]
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
