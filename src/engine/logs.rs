//! A node's log: what its `exec:` and `run:` commands printed, one file per
//! node under the lab's state directory, each line stamped with the time
//! and the command's tag. Capped: past `CAP` bytes the file becomes
//! `NODE.log.1` (replacing the previous one) and a new file starts, so a
//! node keeps at most twice `CAP`. Several writers (one per command)
//! append to the same file; each notices a rotation made by another by the
//! file's inode, and reopens.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes a log file grows to before it is rotated.
pub const CAP: u64 = 1 << 20;

pub struct LogWriter {
    path: PathBuf,
    file: File,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

impl LogWriter {
    pub fn open(path: &Path) -> io::Result<LogWriter> {
        Ok(LogWriter {
            path: path.to_path_buf(),
            file: open_append(path)?,
        })
    }

    /// Append one line, stamped and tagged (a missing newline is added).
    pub fn line(&mut self, tag: &str, text: &[u8]) {
        let same = match (std::fs::symlink_metadata(&self.path), self.file.metadata()) {
            (Ok(a), Ok(b)) => a.ino() == b.ino(),
            _ => false,
        };
        if !same && let Ok(f) = open_append(&self.path) {
            self.file = f;
        }
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        let mut buf = format!("{} {tag}: ", stamp(SystemTime::now())).into_bytes();
        buf.extend_from_slice(text);
        buf.push(b'\n');
        let _ = self.file.write_all(&buf);
        if self.file.metadata().is_ok_and(|m| m.len() > CAP) {
            let _ = std::fs::rename(&self.path, rotated(&self.path));
            if let Ok(f) = open_append(&self.path) {
                self.file = f;
            }
        }
    }
}

pub fn rotated(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".1");
    PathBuf::from(s)
}

/// The log's lines, oldest first, from `since` on when given.
pub fn read(path: &Path, since: Option<SystemTime>) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut found = false;
    for p in [rotated(path), path.to_path_buf()] {
        let Ok(f) = File::open(&p) else { continue };
        found = true;
        for line in io::BufReader::new(f).split(b'\n').map_while(Result::ok) {
            let line = String::from_utf8_lossy(&line).into_owned();
            if keep(&line, since) {
                out.push(line);
            }
        }
    }
    if !found {
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    Ok(out)
}

fn keep(line: &str, since: Option<SystemTime>) -> bool {
    match since {
        None => true,
        Some(t) => line
            .get(..24)
            .and_then(parse_stamp)
            .is_none_or(|at| at >= t),
    }
}

/// Print what is appended to the log as it comes (inotify on the log's
/// directory, no polling), until the directory goes (the lab went down)
/// or `emit` says stop. Starts at the end of what exists.
pub fn follow(path: &Path, mut emit: impl FnMut(&str) -> bool) -> io::Result<()> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let dir = path.parent().unwrap_or(Path::new("/"));
    let ino = Inotify::init(InitFlags::IN_CLOEXEC).map_err(io::Error::from)?;
    ino.add_watch(
        dir,
        AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_DELETE_SELF,
    )
    .map_err(io::Error::from)?;
    let mut file = File::open(path).ok();
    let mut pos = file
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map_or(0, |m| m.len());
    let mut pending = Vec::new();
    loop {
        // A rotation: the path is a new file; read it from its start.
        let now = std::fs::metadata(path).ok().map(|m| m.ino());
        let open = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.ino());
        if now != open {
            file = File::open(path).ok();
            pos = 0;
        }
        if let Some(f) = file.as_mut() {
            f.seek(SeekFrom::Start(pos))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            pos += buf.len() as u64;
            pending.extend_from_slice(&buf);
            while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=i).collect();
                if !emit(String::from_utf8_lossy(&line[..i]).as_ref()) {
                    return Ok(());
                }
            }
        }
        let events = ino.read_events().map_err(io::Error::from)?;
        if events.iter().any(|e| {
            e.mask
                .intersects(AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_IGNORED)
        }) {
            return Ok(());
        }
    }
}

/// `2026-12-02T16:30:01.123Z`: 24 characters, UTC.
pub fn stamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil(secs.div_euclid(86400) as i64);
    let s = secs % 86400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_millis()
    )
}

pub fn parse_stamp(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 24 || b[10] != b'T' || b[23] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(n(0..4)?, n(5..7)?, n(8..10)?);
    let secs = days * 86400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?;
    let ms = n(20..23)?;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms as u64))
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (H. Hinnant's algorithm).
fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_227_801_123);
        let s = stamp(t);
        assert_eq!(s.len(), 24);
        assert_eq!(parse_stamp(&s), Some(t));
        assert_eq!(stamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn rotation_keeps_two_files() {
        let dir = std::env::temp_dir().join(format!("vnet-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("n.log");
        let mut w = LogWriter::open(&p).unwrap();
        let line = vec![b'x'; 4096];
        for _ in 0..600 {
            w.line("t", &line);
        }
        let a = std::fs::metadata(&p).unwrap().len();
        let b = std::fs::metadata(rotated(&p)).unwrap().len();
        assert!(a <= CAP + 5000 && b <= CAP + 5000, "{a} {b}");
        assert!(read(&p, None).unwrap().len() < 600);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
