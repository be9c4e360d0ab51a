//! The API under load from clients that hold connections, send headers slowly or ask for
//! many exports at once: the node bounds what they take, and monitoring still gets
//! `/v1/health` answered.

mod api_support;

use std::time::{Duration, Instant};

use api_support::{As, Network, TestNode, institution};
use reqwest::{Method, StatusCode, header};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use vigia_node::api::ConnectionLimits;

/// Connection limit of the test nodes: small, so a test opens a few times as many.
const MAX_CONNECTIONS: usize = 16;

/// Header timeout of the test nodes.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest a health check may take while the limits are under pressure.
const HEALTH_BOUND: Duration = Duration::from_secs(3);

async fn limited_node(header_read_timeout: Duration) -> (Network, TestNode) {
    let mut network = Network::single();
    network.connections = ConnectionLimits {
        max_connections: MAX_CONNECTIONS,
        header_read_timeout,
    };
    let node = network.start(0).await;
    (network, node)
}

async fn health_within_bound(node: &TestNode) {
    let started = Instant::now();
    let request = node.client.request(Method::GET, "/v1/health", As::Nobody);
    let answer = tokio::time::timeout(HEALTH_BOUND, node.client.send(request))
        .await
        .expect("health answers within its bound");
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    println!("health answered in {:?}", started.elapsed());
}

/// Whether the server closed `stream` (end of file or reset) within `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buffer = vec![0; 64 * 1024];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn idle_connections_beyond_the_limit_leave_health_answerable() {
    // A header timeout longer than the test: what closes connections here is the limit.
    let (_network, node) = limited_node(Duration::from_secs(60)).await;
    let address = node.api.local_addr();
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS * 4 {
        idle.push(TcpStream::connect(address).await.expect("connect"));
    }
    health_within_bound(&node).await;

    // Each connection beyond the limit closed an older idle one; a fresh health check
    // closed one more.
    let mut closed = 0;
    for stream in &mut idle {
        if closed_within(stream, Duration::from_millis(50)).await {
            closed += 1;
        }
    }
    println!("{closed} of {} idle connections closed", idle.len());
    assert!(
        closed >= idle.len() - MAX_CONNECTIONS,
        "{closed} closed: more than {MAX_CONNECTIONS} connections stay open"
    );
    node.stop().await;
}

#[tokio::test]
async fn slow_header_senders_are_disconnected_after_the_timeout() {
    let (_network, node) = limited_node(HEADER_READ_TIMEOUT).await;
    let mut slow = TcpStream::connect(node.api.local_addr())
        .await
        .expect("connect");
    slow.write_all(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("first header lines");
    let started = Instant::now();
    let wait = HEADER_READ_TIMEOUT * 3;
    assert!(
        closed_within(&mut slow, wait).await,
        "a client that never ends its headers is still connected after {wait:?}"
    );
    println!("slow header sender closed after {:?}", started.elapsed());
    health_within_bound(&node).await;
    node.stop().await;
}

#[tokio::test]
async fn oversized_headers_are_refused_before_they_grow() {
    let (_network, node) = limited_node(HEADER_READ_TIMEOUT).await;
    let mut stream = TcpStream::connect(node.api.local_addr())
        .await
        .expect("connect");
    stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nX-Padding: ")
        .await
        .expect("request line");
    let padding = vec![b'a'; 8 * 1024];
    let mut sent = 0;
    // The server stops reading at its header limit; writes then fail or stall.
    for _ in 0..16 {
        let write = stream.write_all(&padding);
        match tokio::time::timeout(Duration::from_millis(200), write).await {
            Ok(Ok(())) => sent += padding.len(),
            _ => break,
        }
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(HEALTH_BOUND, stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    println!(
        "sent {sent} bytes of one header; answer: {:?}",
        text.lines().next()
    );
    assert!(
        read.is_ok() && (answer.is_empty() || text.starts_with("HTTP/1.1 431")),
        "a 128 KB header is neither refused with 431 nor cut: {text:?}"
    );
    node.stop().await;
}

/// A directory of `contacts` contacts, so that an export takes a while to build.
async fn node_with_contacts(contacts: usize) -> (Network, TestNode) {
    let network = Network::single();
    let node = network.start(0).await;
    node.client
        .put(
            "/v1/institutions/PE/pnp",
            institution("Policía Nacional del Perú", "police"),
        )
        .await;
    let mut file = String::from("id,given_names,family_names,institution_id,always_on\n");
    for row in 0..contacts {
        file.push_str(&format!("c-{row},Ana María,Rojas Quispe {row},pnp,true\n"));
    }
    let answer = node.client.import(file, false).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    (network, node)
}

#[tokio::test]
async fn concurrent_exports_beyond_the_limit_get_503_with_retry_after_and_health_answers() {
    let (_network, node) = node_with_contacts(2_000).await;
    let exports: Vec<_> = (0..32)
        .map(|index| {
            let client = node.client.clone();
            let path = if index % 2 == 0 {
                "/v1/export.vcf"
            } else {
                "/v1/export.csv"
            };
            tokio::spawn(async move {
                let request = client.request(Method::GET, path, As::Focal);
                request.send().await.expect("export answers")
            })
        })
        .collect();
    health_within_bound(&node).await;
    let (mut complete, mut refused) = (0, 0);
    for export in exports {
        let response = export.await.expect("export task");
        match response.status() {
            StatusCode::OK => {
                assert!(response.content_length().is_some(), "no Content-Length");
                complete += 1;
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(
                    response.headers().contains_key(header::RETRY_AFTER),
                    "503 without Retry-After"
                );
                let body: serde_json::Value = response.json().await.expect("json error");
                assert_eq!(body["error"]["code"], "too_many_exports", "{body}");
                refused += 1;
            }
            other => panic!("export answered {other}"),
        }
    }
    println!("{complete} exports complete, {refused} refused");
    assert!(refused > 0, "32 exports at once: none refused");
    assert!(complete > 0, "32 exports at once: none complete");
    node.stop().await;
}
