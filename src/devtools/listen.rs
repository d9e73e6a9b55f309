//! `hookd listen --port P --secret whsec_...`: a local receiver that verifies both
//! signatures and prints each event; `--status N` answers N to rehearse failures.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// Serve on 127.0.0.1:`port` until Ctrl-C.
pub async fn run(port: u16, secret: Option<String>, status: u16) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    println!("hookd listen: receiving webhooks on http://{local}/ (answering {status})");
    if secret.is_none() {
        println!("(no --secret: signatures are not checked)");
    }
    let secret = std::sync::Arc::new(secret);
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => a?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let secret = secret.clone();
        let service = hyper::service::service_fn(move |req| handle(req, secret.clone(), status));
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    req: hyper::Request<Incoming>,
    secret: std::sync::Arc<Option<String>>,
    status: u16,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = Limited::new(body, 16 * 1024 * 1024)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .unwrap_or("-")
    };
    println!(
        "{} {} event={} id={} delivery={} attempt={}",
        parts.method,
        parts.uri.path(),
        get("x-webhook-event"),
        get("webhook-id"),
        get("x-webhook-delivery"),
        get("x-webhook-attempt"),
    );
    if let Some(secret) = secret.as_ref() {
        let v = super::check(secret, &headers, &body);
        println!(
            "  signatures: webhook-signature {}, X-Webhook-Signature {}",
            if v.standard { "valid" } else { "INVALID" },
            if v.hex { "valid" } else { "INVALID" }
        );
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
        Err(_) => println!("{}", String::from_utf8_lossy(&body)),
    }
    let mut resp = hyper::Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    Ok(resp)
}
