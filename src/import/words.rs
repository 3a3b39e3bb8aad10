//! Shell text → statements of words, the way `sh` would split them, for the
//! subset people use around `ip` commands: comments, blank lines, quotes,
//! `\` line continuations, `;` `&&` `||` `&` `|`, redirections, and `$VAR`
//! from earlier plain assignments. Anything else that changes what a
//! statement means (command substitution, unknown variables, unterminated
//! quotes) marks the statement with a problem instead of guessing.

use std::collections::HashMap;

/// One command of a script, with where it came from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Statement {
    /// 1-based line the statement starts on.
    pub line: usize,
    /// The statement's own text, continuations joined, for reports.
    pub text: String,
    /// Commands joined by `|`.
    pub pipeline: Vec<Simple>,
    /// Followed by `|| …`: a failure here is expected by the script.
    pub may_fail: bool,
    /// Why the words cannot be trusted, if they cannot.
    pub problem: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Simple {
    pub words: Vec<String>,
    /// (operator, target): `>` `/proc/sys/net/ipv4/ip_forward`.
    pub redirects: Vec<(String, String)>,
}

/// Reads statements one at a time, so that variables assigned by one
/// statement expand in the next.
pub struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

const MAX_WORDS: usize = 10_000;
/// Longest word a variable expansion may build. Without a cap, `a=$a$a`
/// repeated forty times asks for a terabyte (a script bomb); no real
/// command word comes near this.
pub const MAX_WORD_BYTES: usize = 64 << 10;

impl Lexer {
    pub fn new(text: &str, first_line: usize) -> Lexer {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
            line: first_line,
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// The next statement, or None at the end. Empty lines and comments are skipped.
    pub fn next_statement(&mut self, vars: &HashMap<String, String>) -> Option<Statement> {
        loop {
            // Skip blanks, newlines, stray separators and comments between statements.
            while let Some(c) = self.peek(0) {
                if c == '#' {
                    while let Some(c) = self.peek(0) {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                } else if c.is_whitespace() || c == ';' {
                    self.bump();
                } else if c == '\\' && self.peek(1) == Some('\n') {
                    self.bump();
                    self.bump();
                } else {
                    break;
                }
            }
            self.peek(0)?;
            let st = self.statement(vars);
            if !st.pipeline.iter().all(|s| s.words.is_empty()) || st.problem.is_some() {
                return Some(st);
            }
        }
    }

    fn statement(&mut self, vars: &HashMap<String, String>) -> Statement {
        let start = self.pos;
        let mut st = Statement {
            line: self.line,
            ..Statement::default()
        };
        let mut cur = Simple::default();
        let mut count = 0usize;
        let end = loop {
            if let Some(end) = self.statement_end(&mut st) {
                break end;
            }
            match self.peek(0) {
                Some(' ' | '\t' | '\r') => {
                    self.bump();
                }
                Some('\\') if self.peek(1) == Some('\n') => {
                    self.bump();
                    self.bump();
                }
                Some('&') if self.peek(1) == Some('>') => {
                    self.bump();
                    self.bump();
                    let target = self.word(vars, &mut st);
                    cur.redirects.push((">".into(), target));
                }
                Some('|') => {
                    self.bump();
                    st.pipeline.push(std::mem::take(&mut cur));
                }
                Some('>' | '<') => {
                    let op = self.redirect_op();
                    let target = self.redirect_target(vars, &mut st);
                    cur.redirects.push((op, target));
                }
                _ => self.command_word(vars, &mut st, &mut cur, &mut count),
            }
        };
        st.pipeline.push(cur);
        st.text = self.chars[start..end.max(start)]
            .iter()
            .collect::<String>()
            .replace("\\\n", " ")
            .trim()
            .to_string();
        st
    }

    /// At the end of the text or of a statement (a newline, a comment,
    /// `;`, `&&`, `||`, a lone `&`): take the separator, and return where
    /// the statement's text ends.
    fn statement_end(&mut self, st: &mut Statement) -> Option<usize> {
        let end = self.pos;
        match (self.peek(0), self.peek(1)) {
            (None, _) => {}
            (Some('\n' | ';'), _) => {
                self.bump();
            }
            (Some('#'), _) => {
                // A comment ends the statement (at word start only; `a#b` is a word).
                while let Some(c) = self.peek(0) {
                    if c == '\n' {
                        break;
                    }
                    self.bump();
                }
            }
            (Some('&'), Some('&')) => {
                self.bump();
                self.bump();
            }
            (Some('|'), Some('|')) => {
                self.bump();
                self.bump();
                st.may_fail = true;
            }
            (Some('&'), next) if next != Some('>') => {
                self.bump();
            }
            _ => return None,
        }
        Some(end)
    }

    /// After `>` or `<`: `&N` (a descriptor) or a file name.
    fn redirect_target(&mut self, vars: &HashMap<String, String>, st: &mut Statement) -> String {
        if self.peek(0) == Some('&') {
            self.bump();
            let mut t = String::from("&");
            while let Some(c) = self.peek(0) {
                if c.is_ascii_alphanumeric() || c == '-' {
                    t.push(c);
                    self.bump();
                } else {
                    break;
                }
            }
            t
        } else {
            self.skip_blanks();
            self.word(vars, st)
        }
    }

    /// A word of the current command, up to MAX_WORDS of them.
    fn command_word(
        &mut self,
        vars: &HashMap<String, String>,
        st: &mut Statement,
        cur: &mut Simple,
        count: &mut usize,
    ) {
        let w = self.word(vars, st);
        // `2>file`: digits right before a redirection are its descriptor.
        if matches!(self.peek(0), Some('>') | Some('<'))
            && !w.is_empty()
            && w.chars().all(|c| c.is_ascii_digit())
        {
            return;
        }
        *count += 1;
        if *count > MAX_WORDS {
            st.problem.get_or_insert_with(|| "too many words".into());
        } else {
            cur.words.push(w);
        }
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(0), Some(' ') | Some('\t')) {
            self.bump();
        }
    }

    fn redirect_op(&mut self) -> String {
        let mut op = String::new();
        while let Some(c) = self.peek(0) {
            if c == '>' || c == '<' {
                op.push(c);
                self.bump();
                if op.len() == 2 {
                    break;
                }
            } else {
                break;
            }
        }
        op
    }

    /// One word, quotes removed and variables expanded.
    fn word(&mut self, vars: &HashMap<String, String>, st: &mut Statement) -> String {
        let mut w = String::new();
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '>' | '<' => break,
                '\\' => {
                    self.bump();
                    match self.bump() {
                        Some('\n') | None => {}
                        Some(c) => w.push(c),
                    }
                }
                '\'' => {
                    let line = self.line;
                    self.bump();
                    let mut closed = false;
                    while let Some(c) = self.bump() {
                        if c == '\'' {
                            closed = true;
                            break;
                        }
                        w.push(c);
                    }
                    if !closed {
                        st.problem.get_or_insert_with(|| {
                            format!("the quote opened on line {line} is never closed")
                        });
                    }
                }
                '"' => {
                    let line = self.line;
                    self.bump();
                    let mut closed = false;
                    while let Some(c) = self.peek(0) {
                        match c {
                            '"' => {
                                self.bump();
                                closed = true;
                                break;
                            }
                            '\\' => {
                                self.bump();
                                match self.bump() {
                                    Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                                    Some('\n') => {}
                                    Some(c) => {
                                        w.push('\\');
                                        w.push(c);
                                    }
                                    None => {}
                                }
                            }
                            '$' => self.dollar(vars, st, &mut w),
                            '`' => self.backtick(st),
                            _ => {
                                w.push(c);
                                self.bump();
                            }
                        }
                    }
                    if !closed {
                        st.problem.get_or_insert_with(|| {
                            format!("the quote opened on line {line} is never closed")
                        });
                    }
                }
                '$' => self.dollar(vars, st, &mut w),
                '`' => self.backtick(st),
                _ => {
                    w.push(c);
                    self.bump();
                }
            }
        }
        w
    }

    fn backtick(&mut self, st: &mut Statement) {
        self.bump();
        while let Some(c) = self.bump() {
            if c == '`' {
                break;
            }
        }
        st.problem
            .get_or_insert_with(|| "uses command substitution (`…`), which is not run".into());
    }

    /// `$NAME`, `${NAME}`; `$(…)` and the rest cannot be known without running the shell.
    fn dollar(&mut self, vars: &HashMap<String, String>, st: &mut Statement, w: &mut String) {
        self.bump();
        match self.peek(0) {
            Some('{') => {
                self.bump();
                let mut name = String::new();
                while let Some(c) = self.bump() {
                    if c == '}' {
                        break;
                    }
                    name.push(c);
                }
                self.expand(&name, vars, st, w);
            }
            Some('(') => {
                let mut depth = 0usize;
                while let Some(c) = self.bump() {
                    match c {
                        '(' => depth += 1,
                        ')' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                st.problem.get_or_insert_with(|| {
                    "uses command substitution $(…), which is not run".into()
                });
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let mut name = String::new();
                while let Some(c) = self.peek(0) {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        name.push(c);
                        self.bump();
                    } else {
                        break;
                    }
                }
                self.expand(&name, vars, st, w);
            }
            Some(c) if c.is_ascii_digit() || matches!(c, '@' | '*' | '#' | '?' | '$' | '!') => {
                self.bump();
                st.problem.get_or_insert_with(|| {
                    format!("uses `${c}`, which is only known when the script runs")
                });
            }
            _ => w.push('$'),
        }
    }

    fn expand(
        &self,
        name: &str,
        vars: &HashMap<String, String>,
        st: &mut Statement,
        w: &mut String,
    ) {
        match vars.get(name) {
            Some(v) if w.len() + v.len() > MAX_WORD_BYTES => {
                st.problem.get_or_insert_with(|| {
                    format!("${name} expands to a word of more than {MAX_WORD_BYTES} bytes")
                });
            }
            Some(v) => w.push_str(v),
            None => {
                st.problem.get_or_insert_with(|| {
                    format!("uses ${{{name}}}, which is not set by a plain assignment earlier in the script")
                });
            }
        }
    }
}

/// `NAME=value` as a shell assignment, if the word is one.
pub fn assignment(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphabetic() || first == '_')
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    Some((name, value))
}

/// Words of one `ip -batch` line, split as iproute2's `makeargs` does: a
/// `#` anywhere starts a comment, a word may be wrapped in ' or ".
pub fn batch_words(line: &str) -> Result<Vec<String>, super::world::Refused> {
    let line = match line.find('#') {
        Some(at) => &line[..at],
        None => line,
    };
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        let Some(first) = rest.chars().next() else {
            break;
        };
        if first == '\'' || first == '"' {
            let body = &rest[1..];
            match body.find(first) {
                Some(end) => {
                    out.push(body[..end].to_string());
                    rest = &body[end + 1..];
                }
                None => return Err("unterminated quoted string".into()),
            }
        } else {
            let end = rest.find([' ', '\t', '\r', '\n']).unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
        if out.len() > MAX_WORDS {
            return Err("too many words".into());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Statement> {
        let vars = HashMap::new();
        let mut l = Lexer::new(text, 1);
        std::iter::from_fn(|| l.next_statement(&vars)).collect()
    }

    #[test]
    fn splits_like_sh() {
        let s = all(
            "# c\n\nsudo ip link add a type veth \\\n  peer name b # tail\nip netns add 'n 1' && ip a; false || true\n",
        );
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].line, 3);
        assert_eq!(
            s[0].pipeline[0].words,
            [
                "sudo", "ip", "link", "add", "a", "type", "veth", "peer", "name", "b"
            ]
        );
        assert_eq!(s[0].text, "sudo ip link add a type veth    peer name b");
        assert_eq!(s[1].line, 5);
        assert_eq!(s[1].pipeline[0].words, ["ip", "netns", "add", "n 1"]);
        assert!(s[3].may_fail);
        assert!(!s[4].may_fail);
    }

    #[test]
    fn redirections_and_pipes() {
        let s =
            all("echo 1 > /proc/sys/net/ipv4/ip_forward\nip link 2>/dev/null\necho 1 | tee /x\n");
        assert_eq!(
            s[0].pipeline[0].redirects,
            [(">".to_string(), "/proc/sys/net/ipv4/ip_forward".to_string())]
        );
        assert_eq!(s[1].pipeline[0].words, ["ip", "link"]);
        assert_eq!(s[2].pipeline.len(), 2);
    }

    #[test]
    fn variables_expand_or_are_reported() {
        let mut vars = HashMap::new();
        vars.insert("NS".to_string(), "ns1".to_string());
        let mut l = Lexer::new(
            "ip netns add $NS\nip netns add ${NS}x\nip netns add $OTHER\nx=$(ls)\n",
            1,
        );
        let a = l.next_statement(&vars).unwrap();
        assert_eq!(a.pipeline[0].words[3], "ns1");
        let b = l.next_statement(&vars).unwrap();
        assert_eq!(b.pipeline[0].words[3], "ns1x");
        let c = l.next_statement(&vars).unwrap();
        assert!(c.problem.unwrap().contains("OTHER"));
        let d = l.next_statement(&vars).unwrap();
        assert!(d.problem.unwrap().contains("substitution"));
        assert_eq!(assignment("NS=ns1"), Some(("NS", "ns1")));
        assert_eq!(assignment("a.b=1"), None);
    }

    #[test]
    fn unterminated_quote_is_a_problem() {
        let s = all("ip netns add 'x\n");
        assert!(s[0].problem.as_deref().unwrap().contains("line 1"));
    }

    #[test]
    fn batch_lines_split_like_iproute2() {
        assert_eq!(
            batch_words("link add 'a b' type veth # x").unwrap(),
            ["link", "add", "a b", "type", "veth"]
        );
        assert!(batch_words("link add \"a").is_err());
        assert!(batch_words("   ").unwrap().is_empty());
    }
}
