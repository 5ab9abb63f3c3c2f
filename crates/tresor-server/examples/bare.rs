//! The load benchmark's baseline: a bare axum handler on the same runtime and route shape as
//! tresor's resolution route, answering a fixed JSON document. `bench/load.sh` measures it beside
//! the real server in the same run.

use axum::routing::get;
use axum::{Json, Router};

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8399".into());
    let app = Router::new().route(
        "/api/v1/envs/{env}/vaults/{vault}/values/{*key}",
        get(|| async {
            Json(serde_json::json!({"key": "db/password", "version": 1, "kind": "secret",
                "environment": "default", "value": "correct-horse-battery-staple"}))
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
