//! Tests of a networked program with vnet as a library: each test brings up
//! its own copy of a lab (tests run in parallel), runs things in its nodes,
//! and the lab goes when the test ends, passed or failed.
//!
//! Run them as root, or in a network namespace of your own:
//! `sudo cargo test --release --example library_test`
//! (`unshare -rn --mount` works too: see docs/library-rust.md).

fn main() {
    println!("run: cargo test --release --example library_test (as root)");
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    const ROUTER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/router.yaml");

    #[test]
    fn hosts_reach_each_other_through_the_router() -> Result<(), vnet::Error> {
        let net = vnet::Lab::from_file(ROUTER)?.up()?;
        let m = net.ping_all()?;
        assert!(m.all_reachable(), "{m}");
        let out = net.node("h1").run(["ping", "-c1", "10.0.2.2"])?;
        assert!(out.status.success());
        Ok(())
    }

    #[test]
    fn a_server_in_one_node_answers_a_client_in_another() -> Result<(), Box<dyn std::error::Error>>
    {
        let net = vnet::Lab::from_file(ROUTER)?.up()?;
        let listener = net
            .node("h2")
            .enter(|| TcpListener::bind("10.0.2.2:7000"))??;
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"hello").unwrap();
        });
        let got = net.node("h1").enter(|| {
            let mut s = TcpStream::connect("10.0.2.2:7000").unwrap();
            let mut buf = String::new();
            s.read_to_string(&mut buf).unwrap();
            buf
        })?;
        server.join().unwrap();
        assert_eq!(got, "hello");
        Ok(())
    }

    #[test]
    fn the_doctor_names_a_broken_link() -> Result<(), vnet::Error> {
        let net = vnet::Lab::builder("broken")
            .node("a")
            .node("b")
            .link(
                vnet::End::new("a:eth0").ip("10.9.0.1/24"),
                vnet::End::new("b:eth0").ip("10.9.0.2/24"),
            )
            .build()?
            .up()?;
        net.node("b").run(["ip", "link", "set", "eth0", "down"])?;
        let d = net.doctor("a", "b")?;
        assert!(!d.works());
        assert!(d.rules().contains(&"link.down"), "{d}");
        Ok(())
    }
}
