//! A raw RESP client for tests: sends commands or arbitrary bytes and returns
//! each reply exactly as the server wrote it, so tests can assert byte for byte.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use roost_resp::{parse_frame, write_command, Frame, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for a reply before failing.
const REPLY_DEADLINE: Duration = Duration::from_secs(10);

pub struct RespClient {
    stream: TcpStream,
    buf: BytesMut,
}

impl RespClient {
    pub async fn connect(addr: SocketAddr) -> RespClient {
        RespClient {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: BytesMut::new(),
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Sends one command without waiting for its reply.
    pub async fn send(&mut self, args: &[&[u8]]) {
        let mut out = BytesMut::new();
        write_command(&mut out, args);
        self.send_raw(&out).await;
    }

    /// Sends a command of text arguments and returns its raw reply as text.
    pub async fn cmd(&mut self, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&args).await;
        String::from_utf8(self.reply().await).unwrap()
    }

    /// Sends `commands` as one pipeline (one write) and returns each raw reply, as
    /// text, in order.
    pub async fn pipeline<S: AsRef<str>>(&mut self, commands: &[Vec<S>]) -> Vec<String> {
        let mut wire = BytesMut::new();
        for command in commands {
            let args: Vec<&[u8]> = command.iter().map(|a| a.as_ref().as_bytes()).collect();
            write_command(&mut wire, &args);
        }
        self.send_raw(&wire).await;
        let mut replies = Vec::new();
        for _ in commands {
            replies.push(String::from_utf8(self.reply().await).unwrap());
        }
        replies
    }

    /// Sends a command and returns its reply parsed.
    pub async fn frame(&mut self, args: &[&[u8]]) -> Frame {
        self.send(args).await;
        self.read_frame().await.0
    }

    /// The raw bytes of the next reply.
    pub async fn reply(&mut self) -> Vec<u8> {
        self.read_frame().await.1
    }

    async fn read_frame(&mut self) -> (Frame, Vec<u8>) {
        tokio::time::timeout(REPLY_DEADLINE, async {
            loop {
                let mut probe = self.buf.clone();
                if let Some(frame) = parse_frame(&mut probe, &Limits::default()).unwrap() {
                    let raw = self.buf.split_to(self.buf.len() - probe.len());
                    return (frame, raw.to_vec());
                }
                let n = self.stream.read_buf(&mut self.buf).await.unwrap();
                assert!(n > 0, "connection closed while waiting for a reply");
            }
        })
        .await
        .expect("a reply within the deadline")
    }

    /// True when the server closes the connection (after any pending bytes) within the deadline.
    pub async fn closed(&mut self) -> bool {
        let mut sink = [0u8; 4096];
        tokio::time::timeout(REPLY_DEADLINE, async {
            loop {
                match self.stream.read(&mut sink).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
        })
        .await
        .unwrap_or(false)
    }
}

/// Runs `script` one command at a time on `client`, each reply recorded as
/// `<command> -> <raw reply>`, for comparing two servers byte for byte.
pub async fn script_replies(client: &mut RespClient, script: &[&[&str]]) -> Vec<String> {
    let mut out = Vec::with_capacity(script.len());
    for command in script {
        let reply = client.cmd(command).await;
        out.push(format!("{} -> {reply:?}", command.join(" ")));
    }
    out
}

/// [`script_replies`] on a new connection switched to RESP3 (`HELLO 3`).
pub async fn resp3_script_replies(addr: SocketAddr, script: &[&[&str]]) -> Vec<String> {
    let mut client = RespClient::connect(addr).await;
    let hello = client.cmd(&["HELLO", "3"]).await;
    assert!(hello.starts_with('%'), "{hello}");
    script_replies(&mut client, script).await
}

/// Asserts two servers' [`script_replies`] are the same, listing every
/// command whose reply differs.
pub fn assert_same_replies(got: &[String], expected: &[String], what: &str) {
    let mismatches: Vec<String> = got
        .iter()
        .zip(expected)
        .filter(|(g, e)| g != e)
        .map(|(g, e)| format!("  got      {g}\n  expected {e}"))
        .collect();
    assert!(mismatches.is_empty(), "{what}:\n{}", mismatches.join("\n"));
    assert_eq!(got.len(), expected.len(), "{what}");
}
