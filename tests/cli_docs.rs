//! `vnet completions` and `vnet man`, run as the built binary: each shell's
//! script names every command (bash's is loaded into a real bash and asked to
//! complete), and `vnet man DIR` writes one roff page per command. No root,
//! no sandbox: nothing here touches the network.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every command of vnet, as `vnet --help` lists them (clap's `help` aside).
const COMMANDS: &[&str] = &[
    "up",
    "down",
    "status",
    "exec",
    "shell",
    "validate",
    "import",
    "graph",
    "export",
    "ping",
    "trace",
    "doctor",
    "impair",
    "completions",
    "man",
    "perf",
    "logs",
    "serve",
];

fn vnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vnet"))
        .args(args)
        .output()
        .expect("run the vnet binary")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 output")
}

/// A fresh directory of this test's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("vnet-cli-docs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_help_lists_exactly_these_commands() {
    // Keeps COMMANDS honest: the other tests check against it.
    let o = vnet(&["--help"]);
    assert!(o.status.success());
    let help = stdout(&o);
    let listed: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .expect("a Commands: section")
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| *w != "help")
        .collect();
    assert_eq!(listed, COMMANDS, "vnet --help:\n{help}");
}

#[test]
fn completions_for_each_shell_name_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let o = vnet(&["completions", shell]);
        assert!(o.status.success(), "vnet completions {shell}: {o:?}");
        let script = stdout(&o);
        assert!(
            script.len() > 1000,
            "{shell}: {} bytes:\n{script}",
            script.len()
        );
        for cmd in COMMANDS {
            // each shell names a command its own way
            let mark = match shell {
                "bash" => format!("cmd=\"vnet__subcmd__{cmd}\""),
                "zsh" => format!("'{cmd}:"),
                _ => format!("-a \"{cmd}\""),
            };
            assert!(script.contains(&mark), "{shell}: no completion for `{cmd}`");
        }
    }
    // The scripts differ by shell: each is in its own shell's language.
    assert!(stdout(&vnet(&["completions", "bash"])).contains("complete -F _vnet"));
    assert!(stdout(&vnet(&["completions", "zsh"])).starts_with("#compdef vnet"));
    assert!(stdout(&vnet(&["completions", "fish"])).contains("complete -c vnet"));
}

/// Loads the bash script into bash and asks it to complete `vnet WORDS…`.
fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        "source '{}'; COMP_WORDS=(vnet {line}); COMP_CWORD={}; _vnet vnet '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.len(),
        words.last().unwrap(),
        if words.len() > 1 {
            words[words.len() - 2]
        } else {
            "vnet"
        },
    );
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("run bash");
    assert!(o.status.success(), "bash: {o:?}");
    stdout(&o).lines().map(str::to_string).collect()
}

#[test]
fn bash_completes_commands_and_options() {
    let dir = TempDir::new("bash");
    let script = dir.0.join("vnet.bash");
    let o = vnet(&["completions", "bash"]);
    assert!(o.status.success());
    std::fs::write(&script, &o.stdout).unwrap();

    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "bash -n: {syntax:?}");

    assert_eq!(bash_completes(&script, &["st"]), ["status"]);
    assert_eq!(bash_completes(&script, &["do"]), ["down", "doctor"]);
    assert_eq!(bash_completes(&script, &["ping", "--al"]), ["--all"]);
    // --rootless is global: every command takes it.
    assert_eq!(
        bash_completes(&script, &["completions", ""]),
        ["-h", "--rootless", "--help", "bash", "zsh", "fish"]
    );
}

#[test]
fn completions_refuse_an_unknown_shell() {
    let o = vnet(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bash") && err.contains("fish"), "{err}");
}

#[test]
fn man_writes_one_page_per_command() {
    let dir = TempDir::new("man");
    let out = dir.0.join("man1"); // made by vnet
    let o = vnet(&["man", out.to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");

    let mut pages: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    let mut expected: Vec<String> = std::iter::once("vnet.1".to_string())
        .chain(COMMANDS.iter().map(|c| format!("vnet-{c}.1")))
        .collect();
    expected.sort();
    assert_eq!(pages, expected);
    let wrote = format!("wrote {} manual pages", COMMANDS.len() + 1);
    assert!(stdout(&o).contains(&wrote), "{o:?}");

    for page in &pages {
        let text = std::fs::read_to_string(out.join(page)).unwrap();
        let title = page.trim_end_matches(".1");
        // clap_mangen puts two string definitions (.ie/.el) before the title;
        // the title is the first macro after them.
        let first_macro = text
            .lines()
            .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
            .unwrap_or("");
        assert!(
            first_macro.starts_with(&format!(".TH {title} 1 ")),
            "{page} starts with {first_macro:?}"
        );
        assert!(text.contains(".SH NAME"), "{page}");
        assert!(text.contains(".SH SYNOPSIS"), "{page}");
    }
    // The top page points to each command's page.
    let top = std::fs::read_to_string(out.join("vnet.1")).unwrap();
    for cmd in COMMANDS {
        assert!(top.contains(&format!("vnet\\-{cmd}(1)")), "vnet.1: {cmd}");
    }
    let up = std::fs::read_to_string(out.join("vnet-up.1")).unwrap();
    assert!(
        up.contains("\\-\\-dry\\-run"),
        "vnet-up.1 documents --dry-run"
    );
}

#[test]
fn man_into_a_file_fails_with_its_name() {
    let dir = TempDir::new("man-file");
    let file = dir.0.join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let o = vnet(&["man", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not-a-dir"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

/// Markdown links `[text](target)` outside code blocks and code spans.
fn links(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        // Drop `code spans`: a `](` inside one is not a link.
        let text: String = line
            .split('`')
            .enumerate()
            .map(|(i, part)| if i % 2 == 0 { part } else { "" })
            .collect();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as '-'.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> Vec<String> {
    let mut fence = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
        } else if !fence && line.starts_with('#') {
            out.push(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

#[test]
fn every_relative_link_of_the_docs_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            pages.push(p);
        }
    }
    assert!(pages.len() > 5, "README and the docs pages: {pages:?}");
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = match link.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            // Links out of the repository (../shared/…) point to the project's
            // shared folder, which lies beside a clone, not inside it.
            let normal: PathBuf = target.components().fold(PathBuf::new(), |mut p, c| {
                match c {
                    std::path::Component::ParentDir => {
                        p.pop();
                    }
                    c => p.push(c),
                }
                p
            });
            if !normal.starts_with(root) {
                continue;
            }
            assert!(
                normal.exists(),
                "{}: link to {link}: no such file",
                page.display()
            );
            if let Some(fragment) = fragment {
                let heads = anchors(&std::fs::read_to_string(&normal).unwrap());
                assert!(
                    heads.iter().any(|h| h == fragment),
                    "{}: link to {link}: no heading with that anchor in {heads:?}",
                    page.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} links checked");
}

#[test]
fn the_readme_runs_the_tests_as_ci_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let test_command = ci
        .lines()
        .rfind(|l| l.starts_with("cargo test"))
        .expect(".ci/run runs cargo test");
    assert!(
        readme.contains(&format!("&& {test_command}\n")),
        "the README's test command is not .ci/run's `{test_command}`"
    );
    assert!(readme.contains("grep -v '^#' .ci/packages.txt"));
}
