//! TLS on every listener, on the listener's own port: HTTPS with curl, RESP
//! with `redis-cli --tls` and redis-py `ssl=True`, mutual TLS with a client
//! CA, a handshake deadline, and certificates reloaded without dropping the
//! connections that are open.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use support::tls::TestPki;
use support::{metric, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn tls_server(pki: &TestPki, extra: &[(&str, &str)]) -> TestServer {
    let mut builder = TestServer::builder()
        .env("ROOST_TLS_CERT", TestPki::path(&pki.server_cert))
        .env("ROOST_TLS_KEY", TestPki::path(&pki.server_key));
    for (key, value) in extra {
        builder = builder.env(key, value);
    }
    builder.start().await
}

fn https(s: &TestServer, path: &str) -> String {
    format!("{}{path}", s.base.replace("http://", "https://"))
}

/// `curl` with `args`; its exit code and stdout.
fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn redis_cli(s: &TestServer, tls: &[&str], command: &[&str]) -> (bool, String) {
    let out = Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &s.resp_addr.port().to_string(),
            "--tls",
        ])
        .args(tls)
        .args(command)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text.trim().to_owned())
}

/// A TLS client connection to the RESP port trusting `ca`.
async fn resp_over_tls(
    s: &TestServer,
    ca: &std::path::Path,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(s.resp_addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

async fn ping(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> String {
    stream.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_and_resp_over_tls_work_with_real_clients_on_the_same_ports() {
    let pki = TestPki::new("one");
    let s = tls_server(&pki, &[]).await;
    let ca = TestPki::path(&pki.ca);
    let (code, body) = curl(&["--cacert", ca, &https(&s, "/healthz")]);
    assert_eq!((code, body.as_str()), (0, "{\"status\":\"ok\"}"));
    let (code, body) = curl(&[
        "--cacert",
        ca,
        "-H",
        "content-type: application/json",
        "-d",
        "{\"key\":\"k\",\"value\":\"over tls\"}",
        &https(&s, "/api/cache"),
    ]);
    assert_eq!(code, 0, "{body}");
    let (code, _) = curl(&[&https(&s, "/healthz")]);
    assert_ne!(code, 0, "an untrusted certificate is refused by curl");
    let (code, _) = curl(&[&s.url("/healthz")]);
    assert_ne!(code, 0, "plain HTTP on the TLS port gets no answer");

    let (ok, out) = redis_cli(&s, &["--cacert", ca], &["GET", "k"]);
    assert!(ok && out == "\"over tls\"", "{out}");
    let (ok, out) = redis_cli(&s, &["--cacert", ca], &["SET", "r", "from redis-cli"]);
    assert!(ok && out == "OK", "{out}");
    let script = format!(
        "import redis\n\
         r = redis.Redis(host='127.0.0.1', port={}, ssl=True, ssl_ca_certs='{ca}', protocol=3)\n\
         assert r.ping()\n\
         assert r.get('r') == b'from redis-cli', r.get('r')\n\
         r.set('py', 'ssl')\n\
         print('ok')",
        s.resp_addr.port()
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "redis-py over TLS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let failures = metric(
        &curl(&["--cacert", ca, &https(&s, "/metrics")]).1,
        "roost_tls_handshake_failures_total{door=\"http\"}",
    );
    assert!(
        failures >= 2.0,
        "curl without the CA and plain HTTP: {failures}"
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_only_clients_with_a_certificate_from_the_client_ca() {
    let pki = TestPki::new("mutual");
    let other = TestPki::new("stranger");
    let s = tls_server(&pki, &[("ROOST_TLS_CLIENT_CA", TestPki::path(&pki.ca))]).await;
    let ca = TestPki::path(&pki.ca);
    let (code, _) = curl(&["--cacert", ca, &https(&s, "/healthz")]);
    assert_ne!(code, 0, "no client certificate");
    let stranger = [
        "--cert",
        TestPki::path(&other.client_cert),
        "--key",
        TestPki::path(&other.client_key),
    ];
    let (code, _) = curl(&[&["--cacert", ca], &stranger[..], &[&https(&s, "/healthz")]].concat());
    assert_ne!(code, 0, "a certificate from another CA");
    let mine = [
        "--cert",
        TestPki::path(&pki.client_cert),
        "--key",
        TestPki::path(&pki.client_key),
    ];
    let (code, body) = curl(&[&["--cacert", ca], &mine[..], &[&https(&s, "/healthz")]].concat());
    assert_eq!((code, body.as_str()), (0, "{\"status\":\"ok\"}"));
    let (ok, out) = redis_cli(&s, &[&["--cacert", ca], &mine[..]].concat(), &["PING"]);
    assert!(ok && out == "PONG", "{out}");
    let (ok, out) = redis_cli(&s, &["--cacert", ca], &["PING"]);
    assert!(
        !ok || out != "PONG",
        "redis-cli without a certificate: {out}"
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_the_handshake_is_closed() {
    let pki = TestPki::new("slow");
    let s = tls_server(&pki, &[("ROOST_HTTP_HEADER_TIMEOUT", "1")]).await;
    for addr in [
        s.resp_addr,
        s.base.trim_start_matches("http://").parse().unwrap(),
    ] {
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 16];
        let closed = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "{addr} kept a silent socket open"
        );
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_serves_the_new_certificate_and_keeps_open_connections() {
    let first = TestPki::new("first");
    let second = TestPki::new("second");
    let s = tls_server(&first, &[]).await;
    let mut open = resp_over_tls(&s, &first.ca).await;
    assert_eq!(ping(&mut open).await, "+PONG\r\n");

    std::fs::copy(&second.server_cert, &first.server_cert).unwrap();
    std::fs::copy(&second.server_key, &first.server_key).unwrap();
    s.running.as_ref().unwrap().reload(&s.config).await.unwrap();

    let (code, _) = curl(&[
        "--cacert",
        TestPki::path(&second.ca),
        &https(&s, "/healthz"),
    ]);
    assert_eq!(code, 0, "new connections get the new certificate");
    let (code, _) = curl(&["--cacert", TestPki::path(&first.ca), &https(&s, "/healthz")]);
    assert_ne!(code, 0, "and no longer the old one");
    assert_eq!(
        ping(&mut open).await,
        "+PONG\r\n",
        "the open connection goes on"
    );

    std::fs::write(&first.server_key, "not a key").unwrap();
    s.running.as_ref().unwrap().reload(&s.config).await.unwrap();
    let (code, _) = curl(&[
        "--cacert",
        TestPki::path(&second.ca),
        &https(&s, "/healthz"),
    ]);
    assert_eq!(code, 0, "a failed reload keeps the running certificate");
    let text = curl(&[
        "--cacert",
        TestPki::path(&second.ca),
        &https(&s, "/metrics"),
    ])
    .1;
    assert_eq!(
        metric(&text, "roost_tls_reloads_total{outcome=\"ok\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "roost_tls_reloads_total{outcome=\"error\"}"),
        1.0
    );
    s.shutdown().await;
}
