//! A reader that goes away ends vnet's output, never vnet itself: every
//! command that writes to stdout is run with its stdout closed before it
//! writes anything, and after 1 and 10 bytes (what `| head -c1` and
//! `| head -c 10` do). Each run must end with the exit code it has when its
//! output is read to the end, say nothing of a broken pipe and never panic;
//! a command that changes the network must still have done its whole work.
//! Commands that read or change the kernel run in the sandbox.

#[macro_use]
mod sandbox;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};

use sandbox::Sandbox;

/// How one run ended.
struct Ended {
    code: i32,
    stdout_len: usize,
    stderr: String,
}

/// The exit code, or 128 + the signal that ended the process (the shell's
/// way: 141 is SIGPIPE).
fn code(s: ExitStatus) -> i32 {
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

/// Run with a reader that reads everything.
fn read_all(mut c: Command) -> Ended {
    let o = c.stdin(Stdio::null()).output().expect("spawn");
    Ended {
        code: code(o.status),
        stdout_len: o.stdout.len(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Run with a reader that reads `keep` bytes and goes away; with 0 the
/// pipe is closed before the command starts, so its first write fails.
fn read_then_close(mut c: Command, keep: usize) -> Ended {
    c.stdin(Stdio::null()).stderr(Stdio::piped());
    let mut child = if keep == 0 {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fresh descriptors, owned right below.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both were just returned by pipe2.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        drop(r);
        c.stdout(Stdio::from(w)).spawn().expect("spawn")
    } else {
        c.stdout(Stdio::piped()).spawn().expect("spawn")
    };
    let mut err = child.stderr.take().expect("piped stderr");
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut got = 0;
    if let Some(mut out) = child.stdout.take() {
        let mut buf = vec![0u8; keep];
        while got < keep {
            match out.read(&mut buf[got..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        // `out` dropped here: the reader goes away.
    }
    let status = child.wait().expect("wait");
    Ended {
        code: code(status),
        stdout_len: got,
        stderr: errs.join().expect("stderr reader"),
    }
}

/// `what` (for messages), run by `make`, ends the same however early its
/// reader leaves. Returns the exit code.
#[track_caller]
fn same_end(what: &str, make: impl Fn() -> Command) -> i32 {
    let full = read_all(make());
    assert!(
        full.stdout_len > 10,
        "{what}: writes {} bytes to stdout, too few to cut (exit {}): {}",
        full.stdout_len,
        full.code,
        full.stderr
    );
    assert!(!full.stderr.contains("panicked"), "{what}: {}", full.stderr);
    for keep in [0, 1, 10] {
        let cut = read_then_close(make(), keep);
        let how = format!("{what} | head -c {keep}");
        assert!(!cut.stderr.contains("panicked"), "{how}: {}", cut.stderr);
        assert!(
            !cut.stderr.to_lowercase().contains("broken pipe"),
            "{how}: {}",
            cut.stderr
        );
        assert_eq!(
            cut.code, full.code,
            "{how}: exit {} where reading everything gives {}: {}",
            cut.code, full.code, cut.stderr
        );
        assert_eq!(cut.stdout_len, keep, "{how}");
    }
    full.code
}

fn vnet(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vnet"));
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    c
}

/// The commands `vnet --help` lists.
fn commands() -> Vec<String> {
    let out = vnet(&["--help"]).output().expect("vnet --help");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    help.split("Commands:\n")
        .nth(1)
        .unwrap_or("")
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Runs of the commands that need no kernel, by command.
const FILE_ONLY: &[(&str, &[&[&str]])] = &[
    (
        "validate",
        &[
            &["validate", "examples/seed-bridge.yaml"],
            &["validate", "examples/router.yaml"],
        ],
    ),
    (
        "import",
        &[
            &["import", "tests/fixtures/seed-bridge.sh"],
            &["import", "tests/fixtures/seed-bridge.batch"],
            &["import", "tests/fixtures/two-nodes.clab.yml"],
        ],
    ),
    (
        "graph",
        &[
            &["graph", "examples/router.yaml"],
            &["graph", "-f", "svg", "examples/seed-bridge.yaml"],
            &["graph", "-f", "dot", "examples/seed-bridge.yaml"],
            &["graph", "-f", "mermaid", "examples/seed-bridge.yaml"],
        ],
    ),
    ("completions", &[&["completions", "bash"]]),
    (
        "man",
        &[&["man", concat!(env!("CARGO_TARGET_TMPDIR"), "/pipes-man")]],
    ),
    ("help", &[&["help"], &["--help"], &["help", "up"]]),
];

/// Commands covered in the sandbox by the kernel tests below, and `exec`
/// and `shell`, whose output is the program they run.
const IN_SANDBOX: &[&str] = &[
    "up", "down", "status", "export", "ping", "trace", "doctor", "exec", "shell", "perf", "impair",
    "logs", "serve",
];

fn every_command_is_covered_here() {
    let listed = commands();
    assert!(listed.len() >= 11, "{listed:?}");
    for c in &listed {
        assert!(
            FILE_ONLY.iter().any(|(n, _)| n == c) || IN_SANDBOX.contains(&c.as_str()),
            "`vnet {c}` is not run with a closed stdout in tests/pipes.rs: add it"
        );
    }
}

fn commands_without_the_kernel_end_quietly() {
    let listed = commands();
    for (command, runs) in FILE_ONLY {
        if !listed.iter().any(|c| c == command) {
            continue;
        }
        for args in *runs {
            let code = same_end(&format!("vnet {}", args.join(" ")), || vnet(args));
            assert_eq!(code, 0, "vnet {}", args.join(" "));
        }
    }
}

/// `vnet logs` of a node whose command printed, cut early.
fn logs_end_quietly() {
    let sb = Sandbox::new();
    sb.sh(
        "mkdir -p /run/t && cat > /run/t/logs.yaml <<'EOF'\nname: logs\nnodes:\n  lg1:\n    exec: [\"seq 1 200\"]\nEOF",
    )
    .ok();
    sb.vnet("up -q /run/t/logs.yaml").ok();
    for args in ["logs lg1", "logs lg1 --since 1h"] {
        let script = format!("\"$VNET\" {args}");
        assert_eq!(same_end(&script, in_sb(&sb, &script)), 0, "{script}");
    }
    sb.vnet("down logs").ok();
}

/// A script in the sandbox, for `same_end`.
fn in_sb<'a>(sb: &'a Sandbox, script: &'a str) -> impl Fn() -> Command + 'a {
    move || sb.command(script)
}

/// The case: the plan of a 3000-node lab, cut after a line.
fn a_big_dry_run_ends_quietly() {
    let sb = Sandbox::new();
    let mut lab = String::from("name: big\nnodes:\n");
    for i in 1..=3000 {
        lab.push_str(&format!("  n{i}: {{}}\n"));
    }
    sb.sh(&format!(
        "mkdir -p /run/t && cat > /run/t/big.yaml <<'EOF'\n{lab}EOF"
    ))
    .ok();
    for format in ["sh", "batch", "json"] {
        let script = format!("\"$VNET\" up --dry-run --format {format} /run/t/big.yaml");
        assert_eq!(same_end(&script, in_sb(&sb, &script)), 0);
    }
    // And through a real `head -1`, as typed.
    let out = sb
        .sh("{ \"$VNET\" up --dry-run /run/t/big.yaml; echo \"exit=$?\" >&2; } | head -1")
        .ok();
    assert_eq!(out.stdout, "#!/bin/sh\n");
    assert!(out.stderr.contains("exit=0"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(sb.netns().is_empty(), "a dry run builds nothing");
}

/// Every command that reads the kernel, on a live lab, cut early; then
/// `ping --all` keeps its verdict for `| grep -q`.
fn kernel_commands_end_quietly_and_keep_their_exit_code() {
    let sb = Sandbox::new();
    sb.vnet("up -q examples/seed-bridge.yaml").ok();
    for args in [
        "status",
        "status seed-bridge",
        "status --json",
        "export --live",
        "export seed-bridge",
        "graph --live -f dot",
        "graph --live seed-bridge",
        "up examples/seed-bridge.yaml",
        "ping -c 2 -i 0.05 ns1 ns2",
        "ping -c 1 --json ns1 ns2",
        "ping --all",
        "ping --all --json",
        "trace ns1 ns2",
        "trace --json ns1 ns2",
        "trace --mermaid ns1 ns2",
        "doctor ns1 ns2",
        "doctor --json ns1 ns2",
        "perf -t 0.5 ns1 ns2",
        "perf -t 0.5 --json ns1 ns2",
        "perf -t 0.5 --udp ns1 ns2",
        "impair ns1:veth0 --rate 100mbit",
        "impair --json ns1:veth0 --clear",
    ] {
        let script = format!("\"$VNET\" {args}");
        assert_eq!(same_end(&script, in_sb(&sb, &script)), 0, "{script}");
    }
    // Rootless mode (its status starts with the mode line), cut as well.
    let script = "$AS_USER \"$VNET\" status";
    assert_eq!(same_end(script, in_sb(&sb, script)), 0, "{script}");
    // One end down: the matrix fails, and says so by its exit code
    // whether or not anyone reads it.
    sb.sh("ip -n ns2 link set veth1 down").ok();
    for args in ["ping --all -W 0.3", "doctor -W 0.3 --json ns1 ns2"] {
        let script = format!("\"$VNET\" {args}");
        assert_eq!(same_end(&script, in_sb(&sb, &script)), 1, "{script}");
    }
    let out = sb.sh(
        "{ \"$VNET\" ping --all -W 0.3; echo \"vnet=$?\" >&2; } | grep -q ns1; echo \"grep=$?\"",
    );
    assert!(out.stdout.contains("grep=0"), "{}", out.stdout);
    assert!(out.stderr.contains("vnet=1"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

/// `up` and `down` with nobody reading still do their whole work.
fn up_and_down_finish_their_work_with_stdout_closed() {
    let sb = Sandbox::new();
    let up = read_then_close(sb.command("\"$VNET\" up examples/seed-bridge.yaml"), 0);
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert!(!up.stderr.contains("panicked"), "{}", up.stderr);
    assert_eq!(sb.netns(), ["ns1", "ns2"]);
    assert!(sb.pings("ns1", "192.168.1.2"));
    let down = read_then_close(sb.command("\"$VNET\" down seed-bridge"), 0);
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert!(!down.stderr.contains("panicked"), "{}", down.stderr);
    assert!(sb.netns().is_empty());
    assert_eq!(sb.links(""), ["lo"]);
    // Nothing to remove: said on stdout, to nobody, and still exit 0.
    let again = read_then_close(sb.command("\"$VNET\" down seed-bridge"), 0);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!again.stderr.contains("panicked"), "{}", again.stderr);
}

/// Output that fails for another reason (a full disk) is an error, said.
fn a_full_disk_is_an_error() {
    let out = vnet(&["validate", "examples/seed-bridge.yaml"])
        .stdout(std::fs::File::create("/dev/full").expect("/dev/full"))
        .output()
        .expect("spawn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("writing the output failed"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `vnet serve | head -1`: a server whose reader went away keeps serving
/// (its output is only the address), and says nothing about a broken pipe.
fn serve_keeps_serving_after_its_reader_went_away() {
    let sb = Sandbox::new();
    sb.vnet("up -q examples/seed-bridge.yaml").ok();
    let mut c = sb.command("exec \"$VNET\" serve seed-bridge --listen 127.0.0.1:8061");
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut first = [0u8; 10];
    let mut out = child.stdout.take().expect("piped");
    out.read_exact(&mut first).expect("the first bytes");
    drop(out);
    let state = sb.sh(
        "for i in $(seq 100); do curl -sf http://127.0.0.1:8061/api/state && exit 0; sleep 0.1; done; exit 1",
    );
    let alive = child.try_wait().expect("try_wait").is_none();
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    let _ = child.stderr.take().expect("piped").read_to_string(&mut err);
    assert_eq!(state.code, 0, "no answer after stdout closed: {err}");
    assert!(state.stdout.contains("\"nodes\""), "{}", state.stdout);
    assert!(alive, "the server ended: {err}");
    assert!(
        !err.contains("panicked") && !err.to_lowercase().contains("broken pipe"),
        "{err}"
    );
}

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        plain!(every_command_is_covered_here),
        plain!(commands_without_the_kernel_end_quietly),
        plain!(a_full_disk_is_an_error),
        kernel!(a_big_dry_run_ends_quietly),
        kernel!(kernel_commands_end_quietly_and_keep_their_exit_code),
        kernel!(up_and_down_finish_their_work_with_stdout_closed),
        kernel!(logs_end_quietly),
        kernel_with!(serve_keeps_serving_after_its_reader_went_away, "curl"),
    ])
}
