//! A container's process, asked of its runtime: Docker's or Podman's API
//! socket, `GET /containers/NAME/json` (read-only inspect) over HTTP/1.1
//! on the unix socket, for `State.Pid` and `State.Running`. No `docker`
//! binary is run.

use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::external::JoinError;

/// The API sockets looked for, in order, with the runtime each belongs to.
pub(crate) fn sockets() -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("Docker", "/run/docker.sock".to_string()),
        ("Docker", "/var/run/docker.sock".to_string()),
        ("Podman", "/run/podman/podman.sock".to_string()),
    ];
    match std::env::var("XDG_RUNTIME_DIR") {
        Ok(d) if !d.is_empty() => v.push(("Podman", format!("{d}/podman/podman.sock"))),
        _ => v.push((
            "Podman",
            "$XDG_RUNTIME_DIR/podman/podman.sock (unset)".into(),
        )),
    }
    v
}

/// The pid of container `name`'s main process, from the first runtime
/// that knows it.
pub(crate) fn pid_of(name: &str) -> Result<u32, JoinError> {
    let all = sockets();
    let mut asked = Vec::new();
    let mut failed = Vec::new();
    for (runtime, path) in &all {
        let is_socket = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket());
        if !is_socket {
            continue;
        }
        match inspect(path, name) {
            Ok(Some(state)) => {
                return match state {
                    State {
                        running: true,
                        pid: Some(pid),
                    } if pid > 0 => Ok(pid),
                    _ => Err(JoinError::Gone(format!(
                        "container {name} is not running ({runtime} at {path})"
                    ))),
                };
            }
            Ok(None) => asked.push(format!("{runtime} at {path}")),
            Err(why) => failed.push(format!("{runtime} at {path}: {why}")),
        }
    }
    if asked.is_empty() && failed.is_empty() {
        let looked: Vec<String> = all.iter().map(|(rt, p)| format!("{rt} ({p})")).collect();
        return Err(JoinError::Refused(format!(
            "no container runtime found to look up container {name}: looked for the API sockets of {}",
            looked.join(", ")
        )));
    }
    if !asked.is_empty() && failed.is_empty() {
        return Err(JoinError::Gone(format!(
            "no container {name} (asked {})",
            asked.join(", ")
        )));
    }
    let mut all_said = asked
        .iter()
        .map(|a| format!("{a}: no such container"))
        .collect::<Vec<_>>();
    all_said.extend(failed);
    Err(JoinError::Refused(format!(
        "container {name} could not be looked up: {}",
        all_said.join("; ")
    )))
}

#[derive(Debug, PartialEq, Eq)]
struct State {
    running: bool,
    pid: Option<u32>,
}

/// Inspect one container: None when the runtime does not know it.
fn inspect(socket: &str, name: &str) -> Result<Option<State>, String> {
    let mut s = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    // A runtime that hangs must not hang vnet.
    let limit = Some(Duration::from_secs(10));
    let _ = s.set_read_timeout(limit);
    let _ = s.set_write_timeout(limit);
    let req = format!(
        "GET /containers/{name}/json HTTP/1.1\r\nHost: localhost\r\nUser-Agent: vnet\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    s.take(16 << 20)
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let (status, body) = response(&raw)?;
    match status {
        200 => parse_state(&body).map(Some),
        404 => Ok(None),
        other => Err(format!(
            "HTTP {other}: {}",
            String::from_utf8_lossy(&body).trim()
        )),
    }
}

/// Status code and body of an HTTP/1.1 response (plain or chunked).
fn response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or("not an HTTP response")?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[end + 4..];
    Ok((
        status,
        if chunked {
            dechunk(body)?
        } else {
            body.to_vec()
        },
    ))
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunked body")?;
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size".to_string())?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or(&[]);
    }
}

fn parse_state(body: &[u8]) -> Result<State, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not the JSON of a container: {e}"))?;
    let state = v.get("State").ok_or("no State in the answer")?;
    Ok(State {
        running: state
            .get("Running")
            .and_then(|r| r.as_bool())
            .unwrap_or(false),
        pid: state
            .get("Pid")
            .and_then(|p| p.as_u64())
            .and_then(|p| u32::try_from(p).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_answers_are_read() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"State\":{\"Running\":true,\"Pid\":42}}";
        let (code, body) = response(plain).unwrap();
        assert_eq!(code, 200);
        assert_eq!(
            parse_state(&body).unwrap(),
            State {
                running: true,
                pid: Some(42)
            }
        );
        let chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\n\r\n";
        let (code, body) = response(chunked).unwrap();
        assert_eq!(code, 404);
        assert_eq!(body, b"{\"a\": 1}");
        assert!(response(b"garbage").is_err());
    }
}
