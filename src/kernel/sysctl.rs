//! Per-namespace sysctls through /proc/sys, which shows the calling
//! thread's network namespace. Keys are dotted (`net.ipv4.ip_forward`).

use std::io::Write;
use std::path::PathBuf;

use super::error::KernelError;
use super::fault;

fn path(key: &str) -> Result<PathBuf, KernelError> {
    if !key.starts_with("net.")
        || key.contains('/')
        || key.split('.').any(|p| p.is_empty() || p == "..")
    {
        return Err(KernelError::from_errno(libc::EINVAL)
            .with_detail(Some(format!("`{key}` is not a network sysctl"))));
    }
    Ok(PathBuf::from("/proc/sys").join(key.replace('.', "/")))
}

pub(crate) fn read(key: &str) -> Result<String, KernelError> {
    let s = std::fs::read_to_string(path(key)?)?;
    Ok(s.trim().to_string())
}

pub(crate) fn write(key: &str, value: &str) -> Result<(), KernelError> {
    let p = path(key)?;
    fault::check()?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .map_err(|e| {
            let mut k: KernelError = e.into();
            if k.is(libc::ENOENT) {
                k.detail = Some(format!("no sysctl {key} in this kernel"));
            }
            k
        })?;
    f.write_all(value.as_bytes())?;
    Ok(())
}
