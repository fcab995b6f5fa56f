//! The OpenAPI 3.1 document of the HTTP API, generated from the handlers'
//! `#[utoipa::path]` annotations and the API types' schemas. Served without auth at
//! `GET /api/v1/openapi.json`, printed by `dbx-server openapi`, committed at
//! docs/openapi.json; server/tests/openapi.rs keeps the three equal.

use std::sync::Arc;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, Schema};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response as WarpResponse;
use warp::Filter;

/// The name of the Bearer security scheme that operations refer to.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dbx",
        version = "1.1",
        description = "The HTTP API of dbx-server, a self-hosted file store: files and \
            folders, uploads and downloads, moves, share links, the change log for sync, \
            versions, the trash and app passwords. docs/API.md in the repository explains \
            each call; this document is generated from the server's code.",
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(
        super::auth::register,
        super::auth::login,
        super::auth::refresh,
        super::auth::logout,
        super::auth::me,
        super::folders::create,
        super::folders::get,
        super::folders::children,
        super::folders::delete,
        super::files::upload,
        super::files::meta,
        super::files::download,
        super::files::delete,
        super::files::by_path,
        super::files::by_hash,
        super::moves::move_entry,
        super::shares::create,
        super::shares::list,
        super::shares::revoke,
        super::shares::download,
        super::delta::page,
        super::delta::latest,
        super::delta::wait,
        super::versions::list,
        super::versions::download,
        super::versions::restore,
        super::trash::list,
        super::trash::restore,
        super::trash::purge_one,
        super::trash::purge_all,
        super::app_passwords::create,
        super::app_passwords::list,
        super::app_passwords::revoke,
        super::uploads::options,
        super::uploads::create,
        super::uploads::head,
        super::uploads::patch,
        super::uploads::terminate,
        openapi_json,
        healthz,
    ),
    components(
        schemas(dbx_shared::ErrorCode),
        responses(
            BadRequest,
            Unauthorized,
            NotFound,
            Conflict,
            PreconditionFailed,
            PayloadTooLarge,
            RangeNotSatisfiable,
            QuotaExceeded,
            RateLimited,
            CursorReset,
            Internal,
            Unavailable,
        ),
    ),
    modifiers(&SharedFilters),
    tags(
        (name = "auth", description = "Accounts, sign-in and tokens"),
        (name = "folders", description = "Folders and their listings"),
        (name = "files", description = "Uploads, downloads, metadata, lookups by path, moves"),
        (name = "shares", description = "Share links and the public download"),
        (name = "delta", description = "The change log, for sync"),
        (name = "versions", description = "Kept versions of a file"),
        (name = "trash", description = "Deleted files and folders"),
        (name = "uploads", description = "Resumable uploads (tus 1.0.0): headers, not JSON bodies"),
        (name = "app-passwords", description = "Passwords for WebDAV and other Basic clients"),
        (name = "meta", description = "This document and the health check"),
    ),
)]
struct ApiDoc;

/// The document as served and committed: pretty JSON with a final newline.
pub fn document() -> String {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(json) => camel_case_links(&json),
        // Serializing plain maps and strings cannot fail; an empty object keeps the route up.
        Err(e) => {
            tracing::error!(error = %e, "serializing the OpenAPI document");
            "{}\n".to_string()
        }
    }
}

/// utoipa 5.5 writes a Link object's `operationId` as `operation_id` (and `requestBody`
/// as `request_body`), which OpenAPI does not know. In pretty JSON every key starts its
/// own line, and no string holds a raw line break, so the keys are renamed exactly.
fn camel_case_links(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 1);
    for line in json.lines() {
        let key_at = line.len() - line.trim_start().len();
        let (indent, rest) = line.split_at(key_at);
        out.push_str(indent);
        if let Some(value) = rest.strip_prefix("\"operation_id\": ") {
            out.push_str("\"operationId\": ");
            out.push_str(value);
        } else if let Some(value) = rest.strip_prefix("\"request_body\": ") {
            out.push_str("\"requestBody\": ");
            out.push_str(value);
        } else {
            out.push_str(rest);
        }
        out.push('\n');
    }
    out
}

/// `GET /api/v1/openapi.json`, without auth: made once, served as is.
pub fn routes() -> BoxedFilter<(WarpResponse,)> {
    let doc: Arc<str> = document().into();
    warp::path!("openapi.json")
        .and(warp::get())
        .map(move || {
            let mut res = WarpResponse::new(doc.to_string().into());
            res.headers_mut().insert(
                warp::http::header::CONTENT_TYPE,
                warp::http::HeaderValue::from_static("application/json; charset=utf-8"),
            );
            *res.status_mut() = StatusCode::OK;
            res
        })
        .boxed()
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "get_openapi",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API",
        content_type = "application/json", body = Object)),
)]
#[allow(dead_code)] // documents `routes` above
fn openapi_json() {}

/// Health check: 200 once the server takes requests.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "meta",
    responses((status = 200, description = "The server takes requests",
        body = inline(Health))),
)]
#[allow(dead_code)] // documents the route in `super::routes`
fn healthz() {}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only
struct Health {
    #[schema(example = "ok")]
    status: String,
}

/// Raw bytes: file content in a request or a reply.
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {}

/// An error reply: API.md's JSON error shape, with the codes the status goes with.
fn error_response(description: &str, codes: &[&str], headers: &[(&str, &str)]) -> Response {
    let example = serde_json::json!({"error": {"code": codes[0], "message": description}});
    let mut b = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .example(Some(example))
            .build(),
    );
    for (name, about) in headers {
        b = b.header(
            *name,
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(*about))
                .build(),
        );
    }
    b.build()
}

/// Reusable error responses (`components/responses`), one per status of API.md's table.
macro_rules! error_responses {
    ($($name:ident: [$($code:literal),+], $about:literal $(, $header:literal => $hdesc:literal)*;)*) => {$(
        #[doc = $about]
        pub struct $name;

        impl<'r> utoipa::ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                let r = error_response($about, &[$($code),+], &[$(($header, $hdesc)),*]);
                (stringify!($name), RefOr::T(r))
            }
        }
    )*};
}

error_responses! {
    BadRequest: ["invalid_request"],
        "Malformed JSON, a bad parameter, header, name, path or cursor";
    Unauthorized: ["unauthorized"],
        "A missing, malformed, expired or revoked token, or bad credentials",
        "WWW-Authenticate" => "Bearer";
    NotFound: ["not_found"],
        "No such entry for this user (another user's id is a 404 too)";
    Conflict: ["conflict"],
        "The name is already taken there (or another conflict the operation names)";
    PreconditionFailed: ["precondition_failed"],
        "If-Match does not match the current version, or If-None-Match: * and a file exists";
    PayloadTooLarge: ["payload_too_large"],
        "The body is over the configured limit";
    RangeNotSatisfiable: ["range_not_satisfiable"],
        "The Range cannot be satisfied",
        "Content-Range" => "bytes */<size>";
    QuotaExceeded: ["quota_exceeded"],
        "This would take the account over its storage quota; nothing changed";
    RateLimited: ["rate_limited"],
        "Too many attempts; try again after Retry-After seconds",
        "Retry-After" => "Seconds to wait";
    CursorReset: ["cursor_reset"],
        "The cursor no longer matches the server's history (a replaced or restored \
        database, a re-created account): start over without a cursor and merge";
    Internal: ["internal"],
        "A bug; the details are in the server's log";
    Unavailable: ["unavailable"],
        "The database or blob store is down or does not answer; nothing changed",
        "Retry-After" => "Seconds to wait";
}

/// What the filters every route shares answer, added to each operation that uses them,
/// so that the handlers' annotations list only their own outcomes: `user()` is 401,
/// `json_body()` is 400 and 413, and the stores behind every handler may be down (503)
/// or meet a bug (500). Also the Bearer scheme, HEAD beside GET for the downloads, and
/// for the tus calls the `Tus-Resumable` header of every request and reply.
struct SharedFilters;

impl Modify for SharedFilters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                BEARER,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "The access token of POST /api/v1/auth/login or /auth/refresh",
                        ))
                        .build(),
                ),
            );
        }
        let shared = openapi
            .components
            .as_ref()
            .map(|c| c.responses.clone())
            .unwrap_or_default();
        for (path, item) in openapi.paths.paths.iter_mut() {
            let touches_stores = path.starts_with("/api/v1/") && path != "/api/v1/openapi.json"
                || path.starts_with("/s/");
            let tus = path.starts_with("/api/v1/uploads");
            for (method, op) in operations(item) {
                // OPTIONS (tus discovery) answers from the configuration alone.
                add_shared_responses(op, touches_stores && method != "options");
                headers_are_never_null(op);
                if tus {
                    tus_resumable(op, method, &shared);
                }
            }
            if DOWNLOADS.contains(&path.as_str()) {
                item.head = item.get.as_ref().map(head_of);
            }
        }
    }
}

/// The downloads, which answer HEAD as GET without the body.
const DOWNLOADS: [&str; 3] = [
    "/api/v1/files/{id}/content",
    "/api/v1/files/{id}/versions/{version}/content",
    "/s/{token}",
];

/// `(method, operation)` of every operation of a path.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("head", item.head.as_mut()),
        ("options", item.options.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| Some((method, op?)))
}

/// A tus call: the client may name its protocol version (another is 412), and every
/// reply, errors included, says `Tus-Resumable: 1.0.0`. A shared response is copied in
/// to carry that header; a HEAD reply has no body.
fn tus_resumable(
    op: &mut Operation,
    method: &str,
    shared: &std::collections::BTreeMap<String, RefOr<Response>>,
) {
    if method != "options" {
        let param = ParameterBuilder::new()
            .name("Tus-Resumable")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "The tus version the client speaks: `1.0.0` (another is 412)",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build();
        op.parameters.get_or_insert_with(Vec::new).push(param);
    }
    let header = HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some("`1.0.0`"))
        .build();
    for response in op.responses.responses.values_mut() {
        if let RefOr::Ref(r) = response {
            let name = r.ref_location.rsplit('/').next().unwrap_or_default();
            if let Some(RefOr::T(found)) = shared.get(name) {
                *response = RefOr::T(found.clone());
            }
        }
        if let RefOr::T(r) = response {
            r.headers
                .insert("Tus-Resumable".to_string(), header.clone());
            if method == "head" {
                r.content.clear();
            }
        }
    }
}

fn add_shared_responses(op: &mut Operation, touches_stores: bool) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.contains_key("application/json"));
    let mut add = |status: &str, name: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| Ref::from_response_name(name).into());
    };
    if secured {
        add("401", "Unauthorized");
    }
    if json_body {
        add("400", "BadRequest");
        add("413", "PayloadTooLarge");
    }
    if touches_stores {
        add("500", "Internal");
        add("503", "Unavailable");
    }
}

/// utoipa makes an optional header parameter's schema nullable (an `Option`); a header is
/// there or not, never null.
fn headers_are_never_null(op: &mut Operation) {
    let headers = op
        .parameters
        .iter_mut()
        .flatten()
        .filter(|p| p.parameter_in == ParameterIn::Header);
    for param in headers {
        if let Some(RefOr::T(Schema::Object(o))) = param.schema.as_mut() {
            if let SchemaType::Array(types) = &o.schema_type {
                let types: Vec<Type> = types
                    .iter()
                    .filter(|t| **t != Type::Null)
                    .cloned()
                    .collect();
                if let [only] = types.as_slice() {
                    o.schema_type = SchemaType::Type(only.clone());
                }
            }
        }
    }
}

/// The HEAD operation of a download: the GET's parameters, statuses and headers, no body.
fn head_of(get: &Operation) -> Operation {
    let mut head = get.clone();
    head.operation_id = get.operation_id.as_ref().map(|id| format!("{id}_head"));
    head.summary = get.summary.as_ref().map(|s| format!("{s} (headers only)"));
    for response in head.responses.responses.values_mut() {
        if let RefOr::T(r) = response {
            r.content.clear();
        } else {
            *response = RefOr::T(Response::new("As for GET, without a body"));
        }
    }
    head
}
