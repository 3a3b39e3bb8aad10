//! Scripts and `ip -batch` files run against the simulated kernel, one
//! statement at a time. Every statement that builds nothing, cannot be
//! represented, or would fail becomes a note with its line number.

use std::collections::HashMap;

use super::ipcmd::{self, Outcome};
use super::words::{self, Lexer, Simple, Statement};
use super::world::{Line, World};
use super::{Note, NoteKind};

/// Nesting of `sh -c '…'` inside `ip netns exec` that is followed.
const MAX_DEPTH: usize = 4;

pub struct Shell<'a> {
    pub world: &'a mut World,
    pub notes: &'a mut Vec<Note>,
    vars: HashMap<String, String>,
}

impl<'a> Shell<'a> {
    pub fn new(world: &'a mut World, notes: &'a mut Vec<Note>) -> Shell<'a> {
        Shell {
            world,
            notes,
            vars: HashMap::new(),
        }
    }

    /// Run a shell script (or a fragment of one, starting at `first_line`) in namespace `ns`.
    pub fn script(&mut self, text: &str, first_line: Line, ns: usize) {
        self.script_at(text, first_line, ns, 0);
    }

    fn script_at(&mut self, text: &str, first_line: Line, ns: usize, depth: usize) {
        let mut lexer = Lexer::new(text, first_line);
        while let Some(st) = lexer.next_statement(&self.vars) {
            // Nested scripts (`sh -c`) report on the line of the outer statement.
            let st = if depth > 0 {
                Statement {
                    line: first_line,
                    ..st
                }
            } else {
                st
            };
            self.statement(&st, ns, depth);
        }
    }

    /// Run an `ip -batch` file: each line is an `ip` command without the `ip`.
    pub fn batch(&mut self, text: &str) {
        let mut line_no = 0;
        let mut pending = String::new();
        let mut start = 1;
        for raw in text.split('\n') {
            line_no += 1;
            if pending.is_empty() {
                start = line_no;
            }
            // A trailing backslash joins the next line, as iproute2's getcmdline does.
            if let Some(head) = raw.strip_suffix('\\') {
                pending.push_str(head);
                continue;
            }
            pending.push_str(raw);
            let line = std::mem::take(&mut pending);
            self.batch_line(&line, start);
        }
        if !pending.is_empty() {
            self.batch_line(&pending.clone(), start);
        }
    }

    fn batch_line(&mut self, line: &str, at: Line) {
        let text = line.split('#').next().unwrap_or("").trim().to_string();
        match words::batch_words(line) {
            Ok(w) if w.is_empty() => {}
            Ok(w) => {
                let outcome = ipcmd::run(self.world, super::world::HOST_NS, &w, at);
                let outcome = match outcome {
                    Outcome::Exec { ns, words } => self.simple(&words, &[], ns, None, at, 0),
                    o => o,
                };
                self.note(at, &text, outcome, false);
            }
            Err(m) => self.note(at, &text, Outcome::Failed(m.0), false),
        }
    }

    fn statement(&mut self, st: &Statement, ns: usize, depth: usize) {
        if let Some(p) = &st.problem {
            self.note(st.line, &st.text, Outcome::Unsupported(p.clone()), false);
            return;
        }
        // Plain assignments (`NS=ns1`) feed later `$NS`.
        if let [only] = st.pipeline.as_slice()
            && !only.words.is_empty()
            && only.words.iter().all(|w| words::assignment(w).is_some())
        {
            for w in &only.words {
                if let Some((k, v)) = words::assignment(w) {
                    self.vars.insert(k.to_string(), v.to_string());
                }
            }
            return;
        }
        let outcome = match st.pipeline.as_slice() {
            [one] => self.simple(&one.words, &one.redirects, ns, None, st.line, depth),
            [first, rest @ ..] => self.pipeline(first, rest, ns, st.line, depth),
            [] => Outcome::Done,
        };
        self.note(st.line, &st.text, outcome, st.may_fail);
    }

    /// `echo 1 | tee /proc/sys/…` is a sysctl; other pipelines only read.
    fn pipeline(
        &mut self,
        first: &Simple,
        rest: &[Simple],
        ns: usize,
        line: Line,
        depth: usize,
    ) -> Outcome {
        let words = strip_wrappers(&first.words);
        if let Some(value) = echo_value(words)
            && let [tee] = rest
        {
            return self.simple(&tee.words, &tee.redirects, ns, Some(&value), line, depth);
        }
        // Reported as not followed, so it must not change anything either.
        let before = self.world.clone();
        let notes = self.notes.len();
        match self.simple(&first.words, &[], ns, None, line, depth) {
            Outcome::ReadOnly(_) => Outcome::ReadOnly("a pipeline that only reads".into()),
            _ => {
                *self.world = before;
                self.notes.truncate(notes);
                Outcome::Unsupported(
                    "pipelines are not followed (only `echo V | tee /proc/sys/…`)".into(),
                )
            }
        }
    }

    /// One command in namespace `ns`; `stdin` is what a pipe feeds it.
    fn simple(
        &mut self,
        words: &[String],
        redirects: &[(String, String)],
        ns: usize,
        stdin: Option<&str>,
        line: Line,
        depth: usize,
    ) -> Outcome {
        let words = strip_wrappers(words);
        let Some(cmd) = words.first() else {
            return Outcome::Done;
        };
        let args = &words[1..];
        match cmd.as_str() {
            "ip" => match ipcmd::run(self.world, ns, args, line) {
                Outcome::Exec { ns: inner, words } => {
                    // A redirection belongs to the outer shell, in the outer namespace.
                    if let Some(o) = self.redirect_sysctl(&words, redirects, ns, line) {
                        return o;
                    }
                    self.simple(&words, &[], inner, stdin, line, depth)
                }
                o => o,
            },
            "sysctl" => self.sysctl(args, ns, line),
            "echo" | "printf" => self
                .redirect_sysctl(words, redirects, ns, line)
                .unwrap_or_else(|| Outcome::ReadOnly("prints text".into())),
            "tee" => match stdin {
                Some(v) => {
                    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
                    let mut out = Outcome::ReadOnly("writes a file".into());
                    for f in files {
                        out = self.proc_sys(f, v, ns, line);
                    }
                    out
                }
                None => Outcome::ReadOnly("writes a file".into()),
            },
            "sh" | "bash" | "dash" | "zsh" if args.first().map(String::as_str) == Some("-c") => {
                match args.get(1) {
                    Some(inner) if depth < MAX_DEPTH => {
                        let inner = inner.clone();
                        self.script_at(&inner, line, ns, depth + 1);
                        Outcome::Done
                    }
                    _ => Outcome::Unsupported("nested too deeply".into()),
                }
            }
            "brctl" => self.brctl(args, ns, line),
            "true" | ":" => Outcome::Done,
            "set" | "shopt" | "trap" | "umask" | "cd" | "export" | "unset" | "readonly"
            | "local" => Outcome::ReadOnly("a shell setting".into()),
            "if" | "then" | "else" | "elif" | "fi" | "for" | "while" | "until" | "do" | "done"
            | "case" | "esac" | "function" | "{" | "}" | "select" | "return" | "break"
            | "continue" => Outcome::Unsupported(
                "shell control flow is not followed; write the commands out".into(),
            ),
            "ping" | "ping6" | "tcpdump" | "tshark" | "cat" | "ls" | "grep" | "egrep" | "sleep"
            | "traceroute" | "tracepath" | "mtr" | "ss" | "netstat" | "wait" | "clear" | "exit"
            | "read" | "nc" | "ncat" | "curl" | "wget" | "iperf" | "iperf3" | "arping" | "dig"
            | "host" | "nslookup" | "date" | "hostname" | "whoami" | "id" | "lsns" | "ps" => {
                Outcome::ReadOnly("does not change the network".into())
            }
            "bridge" | "ethtool" | "arp" => {
                let changes = args.iter().any(|a| {
                    matches!(
                        a.as_str(),
                        "add"
                            | "set"
                            | "del"
                            | "delete"
                            | "replace"
                            | "change"
                            | "-s"
                            | "-d"
                            | "-K"
                            | "-A"
                            | "-G"
                            | "-L"
                    )
                });
                if changes {
                    Outcome::Unsupported(format!("`{cmd}` settings are not part of a vnet lab"))
                } else {
                    Outcome::ReadOnly("shows state".into())
                }
            }
            "iptables" | "ip6tables" | "nft" | "tc" | "ebtables" | "modprobe" | "insmod"
            | "ovs-vsctl" | "ifconfig" | "route" | "ethtool6" | "systemctl" | "service"
            | "docker" | "podman" | "unshare" | "nsenter" | "mount" | "umount" | "rm" | "mkdir"
            | "touch" => Outcome::Unsupported(format!(
                "`{cmd}` is not an iproute2 command vnet can represent"
            )),
            other => Outcome::Unsupported(format!("`{other}` is not an iproute2 command")),
        }
    }

    /// `echo V > /proc/sys/net/…` run in namespace `ns`.
    fn redirect_sysctl(
        &mut self,
        words: &[String],
        redirects: &[(String, String)],
        ns: usize,
        line: Line,
    ) -> Option<Outcome> {
        let value = echo_value(strip_wrappers(words))?;
        let (_, target) = redirects
            .iter()
            .find(|(op, t)| (op == ">" || op == ">>") && t.starts_with("/proc/sys/"))?;
        Some(self.proc_sys(target, &value, ns, line))
    }

    fn proc_sys(&mut self, path: &str, value: &str, ns: usize, line: Line) -> Outcome {
        match path.strip_prefix("/proc/sys/") {
            Some(key) if !key.is_empty() => {
                self.set_sysctl(&key.replace('/', "."), value.trim(), ns, line)
            }
            _ => Outcome::ReadOnly("writes a file".into()),
        }
    }

    /// `sysctl [-q] -w key=value …`.
    fn sysctl(&mut self, args: &[String], ns: usize, line: Line) -> Outcome {
        let mut out = Outcome::ReadOnly("reads a setting".into());
        for a in args {
            if let Some(flags) = a.strip_prefix('-') {
                if flags.contains(['p', 'a', 'A', 'X', 'r', 'f'])
                    || flags.starts_with("-system")
                    || flags == "-load"
                {
                    return Outcome::Unsupported(
                        "sysctl files and listings are not followed".into(),
                    );
                }
                continue;
            }
            let Some((k, v)) = a.split_once('=') else {
                continue;
            };
            let key = k.trim().replace('/', ".");
            match self.set_sysctl(&key, v.trim(), ns, line) {
                Outcome::Done => out = Outcome::Done,
                other => return other,
            }
        }
        out
    }

    fn set_sysctl(&mut self, key: &str, value: &str, ns: usize, line: Line) -> Outcome {
        if key.is_empty() || key.split('.').any(str::is_empty) || value.is_empty() {
            return Outcome::Failed(format!("`{key}={value}` is not a sysctl setting"));
        }
        self.world.sysctl(ns, key, value, line);
        Outcome::Done
    }

    /// The old bridge tool, as many tutorials still use it.
    fn brctl(&mut self, args: &[String], ns: usize, line: Line) -> Outcome {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut w = |words: &str| {
            ipcmd::run(
                self.world,
                ns,
                &words.split(' ').map(str::to_string).collect::<Vec<_>>(),
                line,
            )
        };
        match a.as_slice() {
            ["addbr", br] => w(&format!("link add {br} type bridge")),
            ["delbr", br] => w(&format!("link del {br}")),
            ["addif", br, ifs @ ..] if !ifs.is_empty() => {
                let mut out = Outcome::Done;
                for i in ifs {
                    out = w(&format!("link set {i} master {br}"));
                    if out != Outcome::Done {
                        break;
                    }
                }
                out
            }
            ["delif", _, ifs @ ..] => {
                let mut out = Outcome::Done;
                for i in ifs {
                    out = w(&format!("link set {i} nomaster"));
                }
                out
            }
            ["stp", br, on] => w(&format!(
                "link set {br} type bridge stp_state {}",
                u8::from(matches!(*on, "on" | "yes" | "1"))
            )),
            ["show", ..] | ["showmacs", ..] | ["showstp", ..] | [] => {
                Outcome::ReadOnly("shows state".into())
            }
            _ => Outcome::Unsupported("this brctl command is not represented".into()),
        }
    }

    fn note(&mut self, line: Line, text: &str, outcome: Outcome, may_fail: bool) {
        let (kind, reason) = match outcome {
            Outcome::Done | Outcome::Exec { .. } => return,
            Outcome::Failed(_) if may_fail => return,
            Outcome::Partial(left) => (
                NoteKind::NotRepresented,
                format!("imported without {}", left.join(", ")),
            ),
            Outcome::ReadOnly(r) => (NoteKind::NothingToBuild, r),
            Outcome::Unsupported(r) => (NoteKind::NotRepresented, r),
            Outcome::Failed(r) => (NoteKind::WouldFail, r),
        };
        self.notes.push(Note {
            line,
            command: text.to_string(),
            reason,
            kind,
        });
    }
}

/// Words without `sudo [-opts]` / `env VAR=…` / `command` in front.
fn strip_wrappers(words: &[String]) -> &[String] {
    let mut w = words;
    loop {
        match w.first().map(String::as_str) {
            Some("sudo") | Some("doas") => {
                w = &w[1..];
                while let Some(opt) = w.first().filter(|o| o.starts_with('-')) {
                    let takes_value = matches!(
                        opt.as_str(),
                        "-u" | "-g" | "-C" | "-p" | "-U" | "-r" | "-t" | "-D" | "-h"
                    );
                    w = &w[if takes_value { 2.min(w.len()) } else { 1 }..];
                }
            }
            Some("env") => {
                w = &w[1..];
                while w
                    .first()
                    .is_some_and(|x| words::assignment(x).is_some() || x.starts_with('-'))
                {
                    w = &w[1..];
                }
            }
            Some("command") | Some("exec") | Some("time") | Some("nohup") => w = &w[1..],
            Some(x) if words::assignment(x).is_some() && w.len() > 1 => w = &w[1..],
            _ => return w,
        }
    }
}

/// What `echo`/`printf` prints (enough for sysctl values).
fn echo_value(words: &[String]) -> Option<String> {
    let (cmd, rest) = words.split_first()?;
    if cmd != "echo" && cmd != "printf" {
        return None;
    }
    let args: Vec<&str> = rest
        .iter()
        .map(String::as_str)
        .filter(|a| !matches!(*a, "-n" | "-e" | "-E"))
        .collect();
    Some(args.join(" ").replace("\\n", "").trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (World, Vec<Note>) {
        let mut w = World::new();
        let mut notes = Vec::new();
        Shell::new(&mut w, &mut notes).script(text, 1, 0);
        (w, notes)
    }

    #[test]
    fn sudo_exec_and_sysctls() {
        let (w, notes) = run(
            "sudo ip netns add r1\nsudo ip netns exec r1 sysctl -w net.ipv4.ip_forward=1\nip netns exec r1 sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding'\necho 1 | sudo tee /proc/sys/net/ipv4/conf/all/rp_filter\n",
        );
        assert!(notes.is_empty(), "{notes:?}");
        let r1 = w.ns_index("r1").unwrap();
        assert_eq!(w.namespaces[r1].sysctls["net.ipv4.ip_forward"].0, "1");
        assert_eq!(
            w.namespaces[r1].sysctls["net.ipv6.conf.all.forwarding"].0,
            "1"
        );
        assert_eq!(
            w.namespaces[0].sysctls["net.ipv4.conf.all.rp_filter"].0,
            "1"
        );
    }

    #[test]
    fn every_skipped_statement_is_noted_with_its_line() {
        let (_, notes) = run(
            "ip netns add a\n\n# c\nip link show\nfrobnicate --now\nip link set nope up\nip link del nope || true\n",
        );
        let lines: Vec<(usize, NoteKind)> = notes.iter().map(|n| (n.line, n.kind)).collect();
        assert_eq!(
            lines,
            [
                (4, NoteKind::NothingToBuild),
                (5, NoteKind::NotRepresented),
                (6, NoteKind::WouldFail)
            ]
        );
        assert_eq!(notes[1].command, "frobnicate --now");
    }

    #[test]
    fn variables_and_brctl() {
        let (w, notes) = run(
            "BR=br9\nbrctl addbr $BR\nip link add a type veth peer name b\nbrctl addif $BR a\n",
        );
        assert!(notes.is_empty(), "{notes:?}");
        let br = w.find(0, "br9").unwrap();
        assert_eq!(w.ifaces[w.find(0, "a").unwrap()].master, Some(br));
    }

    #[test]
    fn batch_lines() {
        let mut w = World::new();
        let mut notes = Vec::new();
        Shell::new(&mut w, &mut notes).batch(
            "netns add ns1\nlink add a type veth \\\n peer name b netns ns1\nnetns exec ns1 ip link set b up # x\nbogus\n",
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0].line, 5);
        let ns1 = w.ns_index("ns1").unwrap();
        assert!(w.ifaces[w.find(ns1, "b").unwrap()].up);
    }
}
