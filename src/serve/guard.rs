//! Who may ask what. Every request: an `Origin` other than the server's own
//! is refused (a page elsewhere cannot drive this one), and so is a `Host`
//! that is not the address served on a loopback listener (DNS rebinding).
//! Changes also need `--allow-changes` and the token printed at start, in
//! the `X-Vnet-Token` header (never a cookie, so a browser never sends it
//! by itself).

use std::io::Read;
use std::net::SocketAddr;

/// A random token: 128 bits from the kernel's generator, in hex.
pub fn new_token() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The origins (`http://HOST:PORT`) the page is served from.
pub fn origins(listen: SocketAddr) -> Vec<String> {
    let port = listen.port();
    let mut v = vec![format!("http://{listen}")];
    if listen.ip().is_loopback() || listen.ip().is_unspecified() {
        v.push(format!("http://localhost:{port}"));
        v.push(format!("http://127.0.0.1:{port}"));
        v.push(format!("http://[::1]:{port}"));
    }
    v.sort();
    v.dedup();
    v
}

/// Why a request is refused, if it is: its `Origin` and `Host` headers.
pub fn check(
    listen: SocketAddr,
    origin: Option<&str>,
    host: Option<&str>,
) -> Result<(), &'static str> {
    let own = origins(listen);
    if let Some(o) = origin
        && !own.iter().any(|x| x == o)
    {
        return Err("refused: the request comes from another origin");
    }
    if listen.ip().is_loopback()
        && let Some(h) = host
        && !own.iter().any(|x| x.strip_prefix("http://") == Some(h))
    {
        return Err("refused: unknown Host for a loopback server");
    }
    Ok(())
}

/// Whether `given` is the token, compared in constant time.
pub fn token_ok(token: &str, given: Option<&str>) -> bool {
    let Some(g) = given else { return false };
    if g.len() != token.len() {
        return false;
    }
    g.bytes()
        .zip(token.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_origin_passes_others_do_not() {
        let l: SocketAddr = "127.0.0.1:8047".parse().unwrap();
        assert!(check(l, Some("http://127.0.0.1:8047"), Some("127.0.0.1:8047")).is_ok());
        assert!(check(l, Some("http://localhost:8047"), Some("localhost:8047")).is_ok());
        assert!(check(l, None, None).is_ok());
        assert!(check(l, Some("http://evil.example"), Some("127.0.0.1:8047")).is_err());
        assert!(check(l, Some("null"), None).is_err());
        assert!(check(l, None, Some("evil.example:8047")).is_err());
    }

    #[test]
    fn tokens_compare_whole() {
        let t = new_token().unwrap();
        assert_eq!(t.len(), 32);
        assert!(token_ok(&t, Some(&t)));
        assert!(!token_ok(&t, Some(&t[..31])));
        assert!(!token_ok(&t, None));
        assert_ne!(t, new_token().unwrap());
    }
}
