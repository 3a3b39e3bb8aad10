//! Validation of a node's workload keys (`files`, `dirs`, `exec`, `run`,
//! `ready`, `user`, `env`): each refusal at its own place in the file.

use super::diag::Problem;
use super::raw::{At, RawCommand, RawFile, RawNode};
use super::workload::{
    Check, Cmd, DirSpec, FileSource, FileSpec, READY_TIMEOUT, Ready, Spot, Workload, check_path,
    parse_duration, parse_mode,
};

/// The workload of a netns node, with every problem pushed to `problems`.
pub(crate) fn workload(n: &RawNode, problems: &mut Vec<Problem>) -> Workload {
    let mut w = Workload::default();
    let mut seen: Vec<(String, super::raw::Span)> = Vec::new();
    let mut path = |p: &At<String>, problems: &mut Vec<Problem>| -> bool {
        if let Err(m) = check_path(&p.value) {
            problems.push(Problem::new(m, p.span).hint("e.g. /etc/frr/frr.conf"));
            return false;
        }
        let norm = p.value.trim_end_matches('/').to_string();
        if seen.iter().any(|(q, _)| *q == norm) {
            problems.push(
                Problem::new(format!("`{norm}` is given twice"), p.span)
                    .hint("each path may appear once in `files:` and `dirs:` together"),
            );
            return false;
        }
        seen.push((norm, p.span));
        true
    };
    if let Some(dirs) = &n.dirs {
        for (p, d) in &dirs.value.0 {
            if !path(p, problems) {
                continue;
            }
            let mode = match &d.value.mode {
                None => 0o755,
                Some(m) => match parse_mode(&m.value.0) {
                    Some(m) => m,
                    None => {
                        problems.push(
                            Problem::new(format!("`{}` is not an octal mode", m.value.0), m.span)
                                .hint("write the mode in octal, e.g. 0755 or \"0750\""),
                        );
                        0o755
                    }
                },
            };
            let name = |x: &Option<At<super::raw::Scalar>>, problems: &mut Vec<Problem>| {
                let x = x.as_ref()?;
                let v = x.value.0.clone();
                if v.is_empty() || v.contains([':', '/', '\0', ' ']) {
                    problems.push(Problem::new(
                        format!("`{v}` is not a user or group name"),
                        x.span,
                    ));
                    return None;
                }
                Some(v)
            };
            w.dirs.push(DirSpec {
                path: p.value.trim_end_matches('/').to_string(),
                owner: name(&d.value.owner, problems),
                group: name(&d.value.group, problems),
                mode,
                at: Spot(p.span),
            });
        }
    }
    if let Some(files) = &n.files {
        for (p, f) in &files.value.0 {
            if !path(p, problems) {
                continue;
            }
            let source = match &f.value {
                RawFile::Content(c) => FileSource::Content(c.clone()),
                RawFile::From(from) => {
                    if from.value.is_empty() || from.value.contains('\0') {
                        problems.push(Problem::new("`from:` names a file or directory", from.span));
                        continue;
                    }
                    FileSource::From(from.value.clone())
                }
            };
            let at = match &f.value {
                RawFile::From(from) => Spot(from.span),
                RawFile::Content(_) => Spot(p.span),
            };
            w.files.push(FileSpec {
                path: p.value.trim_end_matches('/').to_string(),
                source,
                at,
            });
        }
    }
    for (list, out) in [(&n.exec, &mut w.exec), (&n.run, &mut w.run)] {
        if let Some(list) = list {
            for c in &list.value {
                if let Some(cmd) = command(c, problems) {
                    out.push(cmd);
                }
            }
        }
    }
    if let Some(r) = &n.ready {
        let timeout = match &r.value.timeout {
            None => READY_TIMEOUT,
            Some(t) => parse_duration(&t.value.0).unwrap_or_else(|| {
                problems.push(
                    Problem::new(format!("`{}` is not a duration", t.value.0), t.span)
                        .hint("e.g. 30s, 500ms or 2m (at most 24h)"),
                );
                READY_TIMEOUT
            }),
        };
        let check = match (&r.value.exec, &r.value.tcp) {
            (Some(c), None) => command(c, problems).map(Check::Exec),
            (None, Some(p)) if (1..=65535).contains(&p.value) => Some(Check::Tcp(p.value as u16)),
            (None, Some(p)) => {
                problems.push(Problem::new("a TCP port is 1 to 65535", p.span));
                None
            }
            _ => {
                problems.push(
                    Problem::new("`ready:` takes one check: `exec:` or `tcp:`", r.span).hint(
                        "e.g. `ready: { tcp: 80 }` or `ready: { exec: \"test -S /run/app.sock\" }`",
                    ),
                );
                None
            }
        };
        if let Some(check) = check {
            w.ready = Some(Ready { check, timeout });
        }
    }
    if let Some(u) = &n.user {
        if u.value.is_empty() || u.value.contains([':', '/', '\0', ' ']) {
            problems.push(
                Problem::new(format!("`{}` is not a user name", u.value), u.span)
                    .hint("a user name or a number, e.g. `user: nobody`"),
            );
        } else {
            w.user = Some(u.value.clone());
        }
    }
    if let Some(env) = &n.env {
        for (k, v) in &env.value.0 {
            let ok = !k.value.is_empty()
                && !k.value.starts_with(|c: char| c.is_ascii_digit())
                && k.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                problems.push(
                    Problem::new(format!("`{}` is not a variable name", k.value), k.span)
                        .hint("letters, digits and '_', not starting with a digit"),
                );
                continue;
            }
            if v.value.contains('\0') {
                problems.push(Problem::new("a value cannot hold a NUL byte", v.span));
                continue;
            }
            w.env.push((k.value.clone(), v.value.clone()));
        }
    }
    w
}

fn command(c: &At<RawCommand>, problems: &mut Vec<Problem>) -> Option<Cmd> {
    let cmd = match &c.value {
        RawCommand::Shell(s) => Cmd::Shell(s.clone()),
        RawCommand::Argv(v) => Cmd::Argv(v.clone()),
    };
    let empty = match &cmd {
        Cmd::Shell(s) => s.trim().is_empty(),
        Cmd::Argv(v) => v.is_empty() || v[0].is_empty(),
    };
    let nul = cmd.argv().iter().any(|a| a.contains('\0'));
    if empty || nul {
        problems.push(
            Problem::new(
                if nul {
                    "a command cannot hold a NUL byte"
                } else {
                    "the command is empty"
                },
                c.span,
            )
            .hint("a string run by /bin/sh -c, or a list like [/usr/lib/frr/zebra, -u, frr]"),
        );
        return None;
    }
    Some(cmd)
}
