//! Router-level tests of the web UI: pages, escaping, error pages and sign-in, through
//! `tower::ServiceExt::oneshot` on the real router over a registry in a temporary directory.
//! (The browser tests in `ui-tests/` drive the real binary with real models.)

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use prism_server::{open, router, ServerConfig};
use tower::ServiceExt;

const PARENT: &str = "projects/p/locations/l";

async fn app(tokens: &[&str]) -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path());
    config.auth_tokens = tokens.iter().map(|t| t.to_string()).collect();
    let state = open(config).await.unwrap();
    (router(state), dir)
}

async fn send(
    app: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, String, axum::http::HeaderMap) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap(), headers)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn post_json(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn empty_pages_say_so_with_security_headers() {
    let (app, _dir) = app(&[]).await;
    for (path, text) in [
        ("/ui/models", "No models yet"),
        ("/ui/endpoints", "No endpoints yet"),
        ("/ui/operations", "No operations yet"),
    ] {
        let (status, body, headers) = send(&app, get(path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body.contains(text), "{path}: {body}");
        assert!(body.contains("<html lang=\"en\">"));
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
    let (status, _, headers) = send(&app, get("/ui")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/ui/models");
    let (status, css, headers) = send(&app, get("/ui/static/ui.css")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(css.contains("@media"));
}

#[tokio::test]
async fn unknown_things_are_error_pages_with_escaped_messages() {
    let (app, _dir) = app(&[]).await;
    let (status, body, _) = send(&app, get("/ui/%3Cscript%3Ealert(1)%3C/script%3E")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("role=\"alert\""), "{body}");
    assert!(!body.contains("<script>alert"), "{body}");
    let (status, body, _) = send(
        &app,
        get(&format!("/ui/{PARENT}/models/%3Cb%3Ex%3C%2Fb%3E")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("&lt;b&gt;x&lt;&#x2f;b&gt;") || body.contains("&lt;b&gt;x&lt;/b&gt;"),
        "{body}"
    );
    assert!(!body.contains("<b>x</b>"), "{body}");
    let (status, _, _) = send(&app, get("/ui/static/nothing.js")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn explaining_a_missing_or_bad_request_is_a_fragment() {
    let (app, _dir) = app(&[]).await;
    let path = format!("/ui/{PARENT}/models/nope/explain");
    let (status, body, _) = send(&app, post_json(&path, "{not json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("<div class=\"alert\""), "{body}");
    assert!(body.contains("the request is not JSON"), "{body}");
    let (status, body, _) = send(&app, post_json(&path, r#"{"instance": {"x": 1}}"#)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("not found"), "{body}");
    let (status, body, _) = send(&app, post_json(&path, "{}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("instance: is required"), "{body}");
    // A heatmap of an explanation that is not kept.
    let (status, body, _) = send(&app, get("/ui/explanations/abc/0/heatmap.png")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("run it again"), "{body}");
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let (app, _dir) = app(&[]).await;
    let mut request = post_json(&format!("/ui/{PARENT}/models/m/explain"), "{}");
    request
        .headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    request
        .headers_mut()
        .insert(header::HOST, "prism.local:8080".parse().unwrap());
    let (status, body, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("cross-site"), "{body}");
    let mut same = post_json(&format!("/ui/{PARENT}/models/m/explain"), "{}");
    same.headers_mut()
        .insert(header::ORIGIN, "http://prism.local:8080".parse().unwrap());
    same.headers_mut()
        .insert(header::HOST, "prism.local:8080".parse().unwrap());
    let (status, _, _) = send(&app, same).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Behind a proxy that forwards the host the browser used.
    let mut proxied = post_json(&format!("/ui/{PARENT}/models/m/explain"), "{}");
    proxied
        .headers_mut()
        .insert(header::ORIGIN, "https://prism.example".parse().unwrap());
    proxied
        .headers_mut()
        .insert(header::HOST, "10.0.0.5:8080".parse().unwrap());
    proxied
        .headers_mut()
        .insert("x-forwarded-host", "prism.example".parse().unwrap());
    let (status, _, _) = send(&app, proxied).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tokens_sign_the_ui_in_with_a_cookie_the_api_ignores() {
    let (app, _dir) = app(&["t0k;en"]).await;
    // No token: the sign-in form, with where to go next.
    let (status, body, _) = send(&app, get("/ui/endpoints?x=1")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("<label for=\"token\">"), "{body}");
    assert!(
        body.contains("value=\"&#x2f;ui&#x2f;endpoints?x=1\"")
            || body.contains("value=\"/ui/endpoints?x=1\""),
        "{body}"
    );
    // The sign-in page and the static files are open.
    assert_eq!(send(&app, get("/ui/login")).await.0, StatusCode::OK);
    assert_eq!(send(&app, get("/ui/static/ui.js")).await.0, StatusCode::OK);
    // A post without a token gets a fragment.
    let (status, body, _) = send(
        &app,
        post_json(&format!("/ui/{PARENT}/models/m/explain"), "{}"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("/ui/login"), "{body}");

    let login = |token: &str, next: &str| {
        Request::post("/ui/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "token={}&next={}",
                token.replace(';', "%3B"),
                next.replace('/', "%2F")
            )))
            .unwrap()
    };
    let (status, body, headers) = send(&app, login("wrong", "/ui/endpoints")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("not valid"));
    assert!(headers.get(header::SET_COOKIE).is_none());

    // An outside `next` is not followed.
    let (status, _, headers) = send(&app, login("t0k;en", "https://evil.example/")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/ui/models");
    let (_, _, headers) = send(&app, login("t0k;en", "/ui/endpoints")).await;
    assert_eq!(headers[header::LOCATION], "/ui/endpoints");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/ui"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();

    let with_cookie = |path: &str| {
        Request::get(path)
            .header(header::COOKIE, pair.clone())
            .body(Body::empty())
            .unwrap()
    };
    let (status, body, _) = send(&app, with_cookie("/ui/endpoints")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Sign out"));
    // The REST API does not take the cookie.
    let (status, _, _) = send(&app, with_cookie(&format!("/v1/{PARENT}/models"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The header works for the UI too.
    let request = Request::get("/ui/models")
        .header(header::AUTHORIZATION, "Bearer t0k;en")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, request).await.0, StatusCode::OK);
}

async fn call_json(app: &axum::Router, method: &str, path: &str, body: &str) -> serde_json::Value {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, text, _) = send(app, request).await;
    assert_eq!(status, StatusCode::OK, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn wait(app: &axum::Router, op: &serde_json::Value) {
    let name = op["name"].as_str().unwrap();
    let done = call_json(
        app,
        "POST",
        &format!("/v1/{name}:wait"),
        r#"{"timeout": "30s"}"#,
    )
    .await;
    assert_eq!(done["done"], true, "{done}");
    assert!(done.get("error").is_none(), "{done}");
}

/// The attribute `name="…"` of the first element that has it after `from`.
fn attribute<'a>(html: &'a str, from: &str, name: &str) -> &'a str {
    let at = html
        .find(from)
        .unwrap_or_else(|| panic!("{from} in {html}"));
    let rest = &html[at..];
    let start = rest.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let end = start + rest[start..].find('"').unwrap();
    &rest[start..end]
}

/// Uploads `testdata/models/{model}` as model `id` and waits for it; returns its directory.
async fn upload(app: &axum::Router, id: &str, display_name: &str, model: &str) -> String {
    let model_dir = format!(
        "{}/../../testdata/models/{model}",
        env!("CARGO_MANIFEST_DIR")
    );
    let upload = serde_json::json!({"modelId": id, "model": {
        "displayName": display_name, "artifactUri": model_dir}});
    let op = call_json(
        app,
        "POST",
        &format!("/v1/{PARENT}/models:upload"),
        &upload.to_string(),
    )
    .await;
    wait(app, &op).await;
    model_dir
}

/// A real model through the real router: listed with its name escaped, a form field per
/// feature, "not deployed" until it is, then the fragment's numbers are the API's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_page_explains_with_the_apis_numbers() {
    let (app, _dir) = app(&[]).await;
    upload(&app, "lin", "<i>lin</i>", "peer_linear").await;

    let (status, page, _) = send(&app, get("/ui/models")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("&lt;i&gt;lin&lt;"), "{page}");
    assert!(!page.contains("<i>lin</i>"));
    let (status, page, _) = send(&app, get(&format!("/ui/{PARENT}/models/lin"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("This model is not deployed"));
    assert!(!page.contains("id=\"try-form\""));
    let explain = format!("/ui/{PARENT}/models/lin/explain");
    let instance = r#"{"instance": {"x0": 30, "x1": 60, "x2": 30}}"#;
    let (status, body, _) = send(&app, post_json(&explain, instance)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("FAILED_PRECONDITION") && body.contains("not deployed"),
        "{body}"
    );

    let op = call_json(
        &app,
        "POST",
        &format!("/v1/{PARENT}/endpoints?endpointId=ep"),
        r#"{"displayName": "ep"}"#,
    )
    .await;
    wait(&app, &op).await;
    let deploy = serde_json::json!({"deployedModel": {"model": format!("{PARENT}/models/lin")}});
    let op = call_json(
        &app,
        "POST",
        &format!("/v1/{PARENT}/endpoints/ep:deployModel"),
        &deploy.to_string(),
    )
    .await;
    wait(&app, &op).await;

    let (_, page, _) = send(&app, get(&format!("/ui/{PARENT}/models/lin"))).await;
    for name in ["x0", "x1", "x2"] {
        assert!(page.contains(&format!("data-feature=\"{name}\"")), "{page}");
    }
    // The fields start at the baseline.
    assert_eq!(attribute(&page, "data-feature=\"x1\"", "value"), "20");
    let (status, fragment, _) = send(&app, post_json(&explain, instance)).await;
    assert_eq!(status, StatusCode::OK, "{fragment}");
    let api = call_json(
        &app,
        "POST",
        &format!("/v1/{PARENT}/endpoints/ep:explain"),
        r#"{"instances": [{"x0": 30, "x1": 60, "x2": 30}]}"#,
    )
    .await;
    let a = &api["explanations"][0]["attributions"][0];
    let shown = |from: &str, name: &str| attribute(&fragment, from, name).parse::<f64>().unwrap();
    assert_eq!(
        shown("class=\"attribution\"", "data-instance-output"),
        a["instanceOutputValue"].as_f64().unwrap()
    );
    assert_eq!(
        shown("class=\"attribution\"", "data-baseline-output"),
        a["baselineOutputValue"].as_f64().unwrap()
    );
    for name in ["x0", "x1", "x2"] {
        let from = format!("data-feature=\"{name}\"");
        assert_eq!(
            shown(&from, "data-attribution"),
            a["featureAttributions"][name].as_f64().unwrap(),
            "{name}"
        );
    }
    // Rows are sorted by magnitude.
    let order: Vec<usize> = ["x0", "x1", "x2"]
        .iter()
        .map(|n| {
            fragment
                .find(&format!("<tr class=\"bar\" data-feature=\"{n}\""))
                .unwrap()
        })
        .collect();
    let mut by_magnitude = ["x0", "x1", "x2"].to_vec();
    by_magnitude.sort_by(|x, y| {
        let m = |n: &str| a["featureAttributions"][n].as_f64().unwrap().abs();
        m(y).total_cmp(&m(x))
    });
    let mut by_position = ["x0", "x1", "x2"].to_vec();
    by_position.sort_by_key(|n| order[["x0", "x1", "x2"].iter().position(|m| m == n).unwrap()]);
    assert_eq!(by_position, by_magnitude);
    // Another deployment id than the model's is refused.
    let (status, body, _) = send(
        &app,
        post_json(
            &explain,
            r#"{"instance": {"x0": 1, "x1": 2, "x2": 3}, "deployedModelId": "123"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("has no deployment 123"), "{body}");
}

#[tokio::test]
async fn the_batch_jobs_page_is_empty_at_first() {
    let (app, _dir) = app(&[]).await;
    let (status, body, _) = send(&app, get("/ui/batch-jobs")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("No batch jobs yet"), "{body}");
    assert!(body.contains("href=\"/ui/batch-jobs\" aria-current=\"page\""));
    assert!(!body.contains("data-auto-refresh"));
}

/// A finished job's row: its counts, its state, links to its files; the files download as
/// attachments, and nothing outside the job's listed result files does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_batch_job_is_listed_with_its_counts_and_files() {
    let (app, dir) = app(&[]).await;
    let model_dir = upload(&app, "mlp", "mlp", "breast_cancer_mlp").await;
    let mut input = std::fs::read_to_string(format!("{model_dir}/instances.jsonl")).unwrap();
    let good = input.lines().filter(|l| !l.trim().is_empty()).count();
    input.push_str("this is not json\n");
    let input_path = dir.path().join("in.jsonl");
    std::fs::write(&input_path, input).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "TOP-SECRET-CONTENT").unwrap();
    let out = dir.path().join("out");
    let body = serde_json::json!({
        "displayName": "<b>nightly</b>",
        "model": "mlp",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [input_path]}},
        "outputConfig": {"predictionsFormat": "jsonl",
                         "gcsDestination": {"outputUriPrefix": out}},
    });
    let job = call_json(
        &app,
        "POST",
        &format!("/v1/{PARENT}/batchPredictionJobs"),
        &body.to_string(),
    )
    .await;
    let name = job["name"].as_str().unwrap().to_string();
    let mut done = job;
    for _ in 0..600 {
        done = call_json(&app, "GET", &format!("/v1/{name}"), "").await;
        if done["state"] == "JOB_STATE_SUCCEEDED" || done["state"] == "JOB_STATE_FAILED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(done["state"], "JOB_STATE_SUCCEEDED", "{done}");
    assert_eq!(done["completionStats"]["successfulCount"], good.to_string());
    assert_eq!(done["completionStats"]["failedCount"], "1");

    let (status, page, _) = send(&app, get("/ui/batch-jobs")).await;
    assert_eq!(status, StatusCode::OK);
    // minijinja writes `/` as `&#x2f;` in values.
    let page = page.replace("&#x2f;", "/");
    assert!(page.contains("&lt;b&gt;nightly"), "{page}");
    assert!(!page.contains("data-auto-refresh"), "{page}");
    assert!(page.contains(">succeeded</span>"), "{page}");
    assert!(
        page.contains(&format!("<td class=\"num successful\">{good}</td>")),
        "{page}"
    );
    assert!(page.contains("<td class=\"num failed\">1</td>"), "{page}");
    assert!(
        page.contains("<td class=\"num incomplete\">0</td>"),
        "{page}"
    );
    assert!(
        page.contains(&format!("href=\"/ui/{PARENT}/models/mlp\"")),
        "{page}"
    );
    let at = page
        .find("/files/prediction.results-")
        .expect("a results link");
    let start = page[..at].rfind('"').unwrap() + 1;
    let results = page[start..at + page[at..].find('"').unwrap()].to_string();
    let response = app.clone().oneshot(get(&results)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{results}");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/x-ndjson"
    );
    let disposition = response.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), good);
    let files = format!("/ui/{name}/files");
    let (status, _, headers) = send(&app, get(&format!("{files}/stats-00000-of-00001.json"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");

    for bad in [
        "..%2F..%2Fsecret.txt",
        "..",
        "prediction.results-..%2F..%2Fsecret.txt",
        "stats-..%2F..%2Fin.jsonl",
        "secret.txt",
        "prediction.results-99999-of-99999",
        "%2Fetc%2Fpasswd",
    ] {
        let (status, body, _) = send(&app, get(&format!("{files}/{bad}"))).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{bad}: {status}"
        );
        assert!(!body.contains("TOP-SECRET"), "{bad}: {body}");
    }
    let (status, _, _) = send(&app, get(&format!("{files}/../../secret.txt"))).await;
    assert!(status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST);
    let other = format!("/ui/{PARENT}/batchPredictionJobs/123/files/stats-00000-of-00001.json");
    assert_eq!(send(&app, get(&other)).await.0, StatusCode::NOT_FOUND);
}
