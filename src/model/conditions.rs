//! Link conditions on one interface's egress: delay, jitter, loss, rate,
//! corruption, duplication and the queue limit, in the lab file's units.
//! Pure: parsing, display, merging, and the comparison that tolerates the
//! kernel's rounding (it keeps rates in bytes per second, delays in 64 ns
//! ticks, probabilities as fractions of 2³²).

use std::fmt;

use serde::Serialize;

/// A time in microseconds (the finest step `tc` and the file take).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

/// A share of packets in parts per million (1% = 10 000): the finest step
/// is 0.0001%, the resolution of the nftables loss rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(pub u32);

/// A rate in bits per second (tc's units: 1 kbit = 1000 bit/s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(pub u64);

/// The conditions of one interface's egress. `None` is "not set".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Conditions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<Percent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrupt: Option<Percent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<Percent>,
    /// Queue length in packets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One key of `conditions:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Param {
    Delay,
    Jitter,
    Loss,
    Rate,
    Corrupt,
    Duplicate,
    Limit,
}

impl Param {
    pub const ALL: [Param; 7] = [
        Param::Delay,
        Param::Jitter,
        Param::Loss,
        Param::Rate,
        Param::Corrupt,
        Param::Duplicate,
        Param::Limit,
    ];

    /// The keys as the file spells them (for "expected one of").
    pub const NAMES: &'static [&'static str] = &[
        "delay",
        "jitter",
        "loss",
        "rate",
        "corrupt",
        "duplicate",
        "limit",
    ];

    pub fn name(self) -> &'static str {
        match self {
            Param::Delay => "delay",
            Param::Jitter => "jitter",
            Param::Loss => "loss",
            Param::Rate => "rate",
            Param::Corrupt => "corrupt",
            Param::Duplicate => "duplicate",
            Param::Limit => "limit",
        }
    }

    pub fn from_name(s: &str) -> Option<Param> {
        Param::ALL.into_iter().find(|p| p.name() == s)
    }

    /// What only netem can do: no other qdisc delays, corrupts or
    /// duplicates packets.
    pub fn needs_netem(self) -> bool {
        matches!(
            self,
            Param::Delay | Param::Jitter | Param::Corrupt | Param::Duplicate
        )
    }

    /// An example value, for hints.
    pub fn example(self) -> &'static str {
        match self {
            Param::Delay => "20ms",
            Param::Jitter => "5ms",
            Param::Loss => "1%",
            Param::Rate => "10mbit",
            Param::Corrupt => "0.1%",
            Param::Duplicate => "1%",
            Param::Limit => "1000",
        }
    }
}

impl Serialize for Param {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A value the file cannot hold: what is wrong, and what to write instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub message: String,
    pub hint: String,
}

fn refuse(message: impl Into<String>, hint: impl Into<String>) -> Refusal {
    Refusal {
        message: message.into(),
        hint: hint.into(),
    }
}

/// The longest delay or jitter: netem keeps them in 32-bit ticks of 64 ns
/// (274 s); a minute is far beyond any network worth emulating.
pub const MAX_TIME: Time = Time(60_000_000);
/// The highest rate accepted (the kernel takes 64-bit bytes per second;
/// nothing virtual goes faster than this).
pub const MAX_RATE: Rate = Rate(10_000_000_000_000);
/// The longest queue accepted, in packets.
pub const MAX_LIMIT: u32 = 1_000_000;

/// A decimal number split into its digits and the count of digits after
/// the point: "1.25" → (125, 2). No exponent, no sign.
fn decimal(s: &str) -> Option<(u128, u32)> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Trailing zeros of the fraction change nothing.
    let frac = frac.trim_end_matches('0');
    if int.len() + frac.len() > 30 {
        return None;
    }
    let digits: u128 = format!("{int}{frac}").parse().unwrap_or(0);
    Some((digits, frac.len() as u32))
}

/// Split "20ms" into ("20", "ms") at the first letter or '%'.
fn split_unit(s: &str) -> (&str, &str) {
    let at = s
        .find(|c: char| c.is_ascii_alphabetic() || c == '%' || c == 'µ')
        .unwrap_or(s.len());
    (s[..at].trim(), s[at..].trim())
}

fn number_part(param: Param, text: &str, num: &str) -> Result<(u128, u32), Refusal> {
    if num.starts_with('-') {
        return Err(refuse(
            format!("{} cannot be negative (`{text}`)", param.name()),
            format!("e.g. `{}: {}`", param.name(), param.example()),
        ));
    }
    decimal(num.strip_prefix('+').unwrap_or(num)).ok_or_else(|| {
        refuse(
            format!("`{text}` is not a {}", what(param)),
            format!("e.g. `{}: {}`", param.name(), param.example()),
        )
    })
}

fn what(param: Param) -> &'static str {
    match param {
        Param::Delay | Param::Jitter => "time",
        Param::Rate => "rate",
        Param::Limit => "number of packets",
        _ => "percentage",
    }
}

/// "20ms", "500us", "1.5s": microsecond resolution, like tc.
pub fn parse_time(param: Param, text: &str) -> Result<Time, Refusal> {
    let t = text.trim();
    let (num, unit) = split_unit(t);
    let (digits, scale) = number_part(param, t, num)?;
    let per_unit: u128 = match unit.to_ascii_lowercase().as_str() {
        "us" | "usec" | "usecs" | "µs" => 1,
        "ms" | "msec" | "msecs" => 1_000,
        "s" | "sec" | "secs" => 1_000_000,
        "" => {
            return Err(refuse(
                format!("`{t}` has no unit"),
                format!(
                    "write the unit: us, ms or s, e.g. `{}: {}`",
                    param.name(),
                    param.example()
                ),
            ));
        }
        other => {
            return Err(refuse(
                format!("`{other}` is not a unit of time"),
                format!(
                    "times are written in us, ms or s, e.g. `{}: {}`",
                    param.name(),
                    param.example()
                ),
            ));
        }
    };
    let den = 10u128.pow(scale);
    let us = digits * per_unit;
    if !us.is_multiple_of(den) {
        return Err(refuse(
            format!("`{t}` is finer than a microsecond"),
            "netem and tc count time in whole microseconds",
        ));
    }
    let us = us / den;
    if us > u128::from(MAX_TIME.0) {
        return Err(refuse(
            format!("{} `{t}` is longer than {MAX_TIME}", param.name()),
            "delays and jitter up to a minute are supported",
        ));
    }
    Ok(Time(us as u64))
}

/// "1%", "0.5%", "100%": a share of packets, resolution 0.0001%.
pub fn parse_percent(param: Param, text: &str) -> Result<Percent, Refusal> {
    let t = text.trim();
    let (num, unit) = split_unit(t);
    if unit != "%" {
        let hint = format!(
            "write a percentage with its sign, e.g. `{}: {}`",
            param.name(),
            param.example()
        );
        return Err(if unit.is_empty() {
            refuse(format!("`{t}` has no percent sign"), hint)
        } else {
            refuse(format!("`{unit}` is not a percentage"), hint)
        });
    }
    let (digits, scale) = number_part(param, t, num)?;
    // ppm = value% × 10 000.
    let num = digits * 10_000;
    let den = 10u128.pow(scale);
    if !num.is_multiple_of(den) {
        return Err(refuse(
            format!("`{t}` is finer than 0.0001%"),
            "shares of packets are set in steps of 0.0001% (one in a million)",
        ));
    }
    let ppm = num / den;
    if ppm > 1_000_000 {
        return Err(refuse(
            format!("{} `{t}` is more than 100%", param.name()),
            format!(
                "a share of packets is between 0% and 100%, e.g. `{}: {}`",
                param.name(),
                param.example()
            ),
        ));
    }
    Ok(Percent(ppm as u32))
}

/// Rate units as tc reads them (case does not matter): bits per second,
/// or bytes per second for the `…bps` ones.
const RATE_UNITS: &[(&str, u128)] = &[
    ("bit", 1),
    ("kbit", 1_000),
    ("mbit", 1_000_000),
    ("gbit", 1_000_000_000),
    ("tbit", 1_000_000_000_000),
    ("kibit", 1 << 10),
    ("mibit", 1 << 20),
    ("gibit", 1 << 30),
    ("tibit", 1 << 40),
    ("bps", 8),
    ("kbps", 8_000),
    ("mbps", 8_000_000),
    ("gbps", 8_000_000_000),
    ("tbps", 8_000_000_000_000),
    ("kibps", 8 << 10),
    ("mibps", 8 << 20),
    ("gibps", 8 << 30),
    ("tibps", 8 << 40),
];

/// "10mbit", "500kbit", "1gbit"; "…bps" units are bytes per second, as in tc.
pub fn parse_rate(text: &str) -> Result<Rate, Refusal> {
    let param = Param::Rate;
    let t = text.trim();
    let (num, unit) = split_unit(t);
    let (digits, scale) = number_part(param, t, num)?;
    let lower = unit.to_ascii_lowercase();
    let Some(&(_, per)) = RATE_UNITS.iter().find(|(u, _)| *u == lower) else {
        let hint = "rates are written like tc's: bit, kbit, mbit, gbit (1 kbit = 1000 bit/s), or kbps, mbps, gbps for bytes per second, e.g. `rate: 10mbit`";
        return Err(if unit.is_empty() {
            refuse(format!("`{t}` has no unit"), hint)
        } else {
            refuse(format!("`{unit}` is not a unit of rate"), hint)
        });
    };
    let bits = digits.saturating_mul(per) / 10u128.pow(scale);
    if digits == 0 {
        return Err(refuse(
            "a rate of zero lets nothing through",
            "to cut a link, use `loss: 100%`; to remove the limit, remove `rate`",
        ));
    }
    if bits < 8 {
        return Err(refuse(
            format!("`{t}` is below 8 bit/s"),
            "the kernel counts rates in whole bytes per second",
        ));
    }
    if bits > u128::from(MAX_RATE.0) {
        return Err(refuse(
            format!("`{t}` is above {MAX_RATE}"),
            "rates up to 10 tbit are accepted",
        ));
    }
    Ok(Rate(bits as u64))
}

/// A queue length in packets, above zero.
pub fn parse_limit(text: &str) -> Result<u32, Refusal> {
    let t = text.trim();
    let hint = "the queue length is a number of packets, e.g. `limit: 1000`";
    if t.starts_with('-') {
        return Err(refuse(format!("limit cannot be negative (`{t}`)"), hint));
    }
    let n: u64 = t
        .strip_prefix('+')
        .unwrap_or(t)
        .parse()
        .map_err(|_| refuse(format!("`{t}` is not a number of packets"), hint))?;
    if n == 0 {
        return Err(refuse(
            "a queue limit of 0 drops every packet",
            "to cut a link, use `loss: 100%`; otherwise give at least 1 packet",
        ));
    }
    if n > u64::from(MAX_LIMIT) {
        return Err(refuse(
            format!("a queue of {n} packets is more than {MAX_LIMIT}"),
            hint,
        ));
    }
    Ok(n as u32)
}

impl Conditions {
    pub fn is_empty(&self) -> bool {
        *self == Conditions::default()
    }

    /// Set one parameter from its text (zero percentages and times mean
    /// "not set").
    pub fn set(&mut self, param: Param, text: &str) -> Result<(), Refusal> {
        let time = |t: Time| (t.0 > 0).then_some(t);
        let pct = |p: Percent| (p.0 > 0).then_some(p);
        match param {
            Param::Delay => self.delay = time(parse_time(param, text)?),
            Param::Jitter => self.jitter = time(parse_time(param, text)?),
            Param::Loss => self.loss = pct(parse_percent(param, text)?),
            Param::Corrupt => self.corrupt = pct(parse_percent(param, text)?),
            Param::Duplicate => self.duplicate = pct(parse_percent(param, text)?),
            Param::Rate => self.rate = Some(parse_rate(text)?),
            Param::Limit => self.limit = Some(parse_limit(text)?),
        }
        Ok(())
    }

    /// These conditions without one parameter.
    pub fn without(&self, p: Param) -> Conditions {
        let mut c = *self;
        match p {
            Param::Delay => c.delay = None,
            Param::Jitter => c.jitter = None,
            Param::Loss => c.loss = None,
            Param::Rate => c.rate = None,
            Param::Corrupt => c.corrupt = None,
            Param::Duplicate => c.duplicate = None,
            Param::Limit => c.limit = None,
        }
        c
    }

    /// These conditions with every parameter `top` sets taken from `top`
    /// (an endpoint's keys over its link's; a live change over what is set).
    pub fn overlaid(&self, top: &Conditions) -> Conditions {
        Conditions {
            delay: top.delay.or(self.delay),
            jitter: top.jitter.or(self.jitter),
            loss: top.loss.or(self.loss),
            rate: top.rate.or(self.rate),
            corrupt: top.corrupt.or(self.corrupt),
            duplicate: top.duplicate.or(self.duplicate),
            limit: top.limit.or(self.limit),
        }
    }

    /// The parameters that are set, in file order.
    pub fn params(&self) -> Vec<Param> {
        Param::ALL
            .into_iter()
            .filter(|p| self.get(*p).is_some())
            .collect()
    }

    /// One parameter as the file writes it.
    pub fn get(&self, p: Param) -> Option<String> {
        match p {
            Param::Delay => self.delay.map(|v| v.to_string()),
            Param::Jitter => self.jitter.map(|v| v.to_string()),
            Param::Loss => self.loss.map(|v| v.to_string()),
            Param::Rate => self.rate.map(|v| v.to_string()),
            Param::Corrupt => self.corrupt.map(|v| v.to_string()),
            Param::Duplicate => self.duplicate.map(|v| v.to_string()),
            Param::Limit => self.limit.map(|v| v.to_string()),
        }
    }

    /// The parameters only netem can carry.
    pub fn needing_netem(&self) -> Vec<Param> {
        self.params()
            .into_iter()
            .filter(|p| p.needs_netem())
            .collect()
    }

    /// What is wrong with this combination (each set parameter is valid
    /// on its own): jitter needs a delay to vary.
    pub fn combination_problems(&self) -> Vec<(Param, Refusal)> {
        let mut out = Vec::new();
        if self.jitter.is_some() && self.delay.is_none() {
            out.push((
                Param::Jitter,
                refuse(
                    "jitter without a delay",
                    "jitter varies the delay: set `delay` too, e.g. `delay: 20ms` with `jitter: 5ms`",
                ),
            ));
        }
        out
    }

    /// Whether `live` (read from the kernel) carries these conditions, up
    /// to the kernel's rounding. With netem an unset limit is netem's
    /// default of 1000 packets.
    pub fn matches(&self, live: &Conditions, via: Via) -> bool {
        let time = |a: Option<Time>, b: Option<Time>| match (a, b) {
            (None, None) => true,
            (Some(x), Some(y)) => x.0.abs_diff(y.0) <= 1,
            _ => false,
        };
        let pct = |a: Option<Percent>, b: Option<Percent>| match (a, b) {
            (None, None) => true,
            (Some(x), Some(y)) => x.0.abs_diff(y.0) <= 1,
            _ => false,
        };
        let rate = match (self.rate, live.rate) {
            (None, None) => true,
            (Some(x), Some(y)) => x.0 / 8 == y.0 / 8 || x.0.abs_diff(y.0) <= 8,
            _ => false,
        };
        let limit = match via {
            Via::Netem => self.limit.unwrap_or(NETEM_LIMIT) == live.limit.unwrap_or(NETEM_LIMIT),
            Via::Shaper => self.limit == live.limit,
        };
        time(self.delay, live.delay)
            && time(self.jitter, live.jitter)
            && pct(self.loss, live.loss)
            && rate
            && pct(self.corrupt, live.corrupt)
            && pct(self.duplicate, live.duplicate)
            && limit
    }
}

/// netem's queue length when none is given (as tc sends it).
pub const NETEM_LIMIT: u32 = 1000;

impl fmt::Display for Conditions {
    /// `delay 20ms jitter 5ms loss 1% rate 10mbit`, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let words: Vec<String> = self
            .params()
            .into_iter()
            .filter_map(|p| self.get(p).map(|v| format!("{} {v}", p.name())))
            .collect();
        f.write_str(&words.join(" "))
    }
}

/// Digits with the decimal point `places` from the right, trailing zeros
/// dropped: (1500, 3) → "1.5".
fn trimmed(value: u64, places: u32) -> String {
    let den = 10u64.pow(places);
    let (int, frac) = (value / den, value % den);
    if frac == 0 {
        return int.to_string();
    }
    let f = format!("{frac:0width$}", width = places as usize);
    format!("{int}.{}", f.trim_end_matches('0'))
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let us = self.0;
        if us >= 1_000_000 && us.is_multiple_of(1000) {
            write!(f, "{}s", trimmed(us / 1000, 3))
        } else if us >= 1000 {
            write!(f, "{}ms", trimmed(us, 3))
        } else {
            write!(f, "{us}us")
        }
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}%", trimmed(u64::from(self.0), 4))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let b = self.0;
        if b >= 1_000_000_000 && b.is_multiple_of(1_000_000) {
            write!(f, "{}gbit", trimmed(b / 1_000_000, 3))
        } else if b >= 1_000_000 && b.is_multiple_of(1000) {
            write!(f, "{}mbit", trimmed(b / 1000, 3))
        } else if b >= 1000 {
            write!(f, "{}kbit", trimmed(b, 3))
        } else {
            write!(f, "{b}bit")
        }
    }
}

macro_rules! serialize_as_text {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_text!(Time, Percent, Rate);

impl Percent {
    /// As a fraction of 2³² - 1, the way netem keeps probabilities (and
    /// the way tc rounds them: to the nearest).
    pub fn to_u32_scale(self) -> u32 {
        (f64::from(self.0) / 1e6 * f64::from(u32::MAX)).round() as u32
    }

    pub fn from_u32_scale(v: u32) -> Percent {
        Percent((f64::from(v) / f64::from(u32::MAX) * 1e6).round() as u32)
    }
}

impl Rate {
    /// Bytes per second, as the kernel keeps it (tc truncates).
    pub fn bytes(self) -> u64 {
        self.0 / 8
    }

    pub fn from_bytes(b: u64) -> Rate {
        Rate(b.saturating_mul(8))
    }
}

/// How conditions are made on a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// One netem qdisc at the root carries every parameter.
    Netem,
    /// Without netem: rate by a tbf qdisc at the root (limit by a pfifo
    /// under it, or alone), loss by an nftables rule on the egress hook.
    Shaper,
}

/// What the kernel offers for conditions, as probed at run time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Support {
    /// The netem qdisc (sch_netem).
    pub netem: bool,
    /// The tbf qdisc (sch_tbf).
    pub tbf: bool,
    /// nftables with netdev-family base chains on the egress hook, and
    /// its numgen and fwd expressions (what the loss rule is made of).
    pub nft_egress: bool,
    /// False when the kernel could not be probed (no privilege): the
    /// other fields are then guesses and nothing is refused for them.
    pub probed: bool,
}

impl Support {
    /// The mechanism used on this kernel.
    pub fn via(&self) -> Via {
        if self.netem || !self.probed {
            Via::Netem
        } else {
            Via::Shaper
        }
    }

    /// The parameters of `c` this kernel cannot make, each with what is
    /// missing.
    pub fn missing(&self, c: &Conditions) -> Vec<(Param, Missing)> {
        if !self.probed || self.netem {
            return Vec::new();
        }
        let mut out = Vec::new();
        for p in c.params() {
            let m = match p {
                _ if p.needs_netem() => Some(Missing::Netem),
                Param::Rate if !self.tbf => Some(Missing::Tbf),
                Param::Limit if !self.tbf => Some(Missing::Tbf),
                Param::Loss if !self.nft_egress => Some(Missing::NftEgress),
                _ => None,
            };
            if let Some(m) = m {
                out.push((p, m));
            }
        }
        out
    }
}

/// A kernel feature a parameter needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    Netem,
    Tbf,
    NftEgress,
}

impl Missing {
    /// What the feature is, its kernel option, and how to get it.
    pub fn describe(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Missing::Netem => (
                "the netem qdisc (sch_netem)",
                "CONFIG_NET_SCH_NETEM",
                "load it with `modprobe sch_netem` (Debian/Ubuntu: it is in the linux-modules-extra package), or use a kernel built with CONFIG_NET_SCH_NETEM",
            ),
            Missing::Tbf => (
                "the tbf qdisc (sch_tbf)",
                "CONFIG_NET_SCH_TBF",
                "load it with `modprobe sch_tbf`, or use a kernel built with CONFIG_NET_SCH_TBF",
            ),
            Missing::NftEgress => (
                "nftables' netdev egress hook with numgen and fwd",
                "CONFIG_NETFILTER_EGRESS, CONFIG_NFT_NUMGEN and CONFIG_NFT_FWD_NETDEV",
                "use a kernel of 5.16 or later built with them, or one with netem (`modprobe sch_netem`)",
            ),
        }
    }
}

/// The nftables table (netdev family) that holds a namespace's loss rules:
/// `vnet-LAB` for a lab's interfaces (in the host namespace too, so each
/// lab's rules are its own), `vnet` for interfaces of no lab. Tables of
/// other names are never touched.
pub fn loss_table(lab: Option<&str>) -> String {
    match lab {
        Some(l) => format!("vnet-{l}"),
        None => "vnet".to_string(),
    }
}

/// Whether a table name is one vnet keeps loss rules in.
pub fn is_loss_table(name: &str) -> bool {
    name == "vnet" || name.strip_prefix("vnet-").is_some_and(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(pairs: &[(Param, &str)]) -> Conditions {
        let mut c = Conditions::default();
        for (p, v) in pairs {
            c.set(*p, v).unwrap();
        }
        c
    }

    #[test]
    fn times_parse_and_print_in_the_files_units() {
        for (text, us, shown) in [
            ("20ms", 20_000, "20ms"),
            ("500us", 500, "500us"),
            ("1.5ms", 1500, "1.5ms"),
            ("1s", 1_000_000, "1s"),
            ("2.25s", 2_250_000, "2.25s"),
            ("0.001s", 1000, "1ms"),
            ("1000.5ms", 1_000_500, "1000.5ms"),
            ("5MS", 5000, "5ms"),
        ] {
            let t = parse_time(Param::Delay, text).unwrap();
            assert_eq!(t, Time(us), "{text}");
            assert_eq!(t.to_string(), shown, "{text}");
            assert_eq!(parse_time(Param::Delay, shown).unwrap(), t);
        }
        for bad in ["20", "-5ms", "5 min", "0.5us", "61s", "ms", "1e3ms"] {
            assert!(parse_time(Param::Delay, bad).is_err(), "{bad}");
        }
        assert!(
            parse_time(Param::Delay, "-5ms")
                .unwrap_err()
                .message
                .contains("negative")
        );
    }

    #[test]
    fn percentages_to_a_millionth() {
        for (text, ppm, shown) in [
            ("1%", 10_000, "1%"),
            ("0.5%", 5_000, "0.5%"),
            ("100%", 1_000_000, "100%"),
            ("0.0001%", 1, "0.0001%"),
            ("20.00%", 200_000, "20%"),
        ] {
            let p = parse_percent(Param::Loss, text).unwrap();
            assert_eq!(p, Percent(ppm), "{text}");
            assert_eq!(p.to_string(), shown);
        }
        for bad in ["101%", "1", "0.5", "-1%", "0.00001%", "1 percent"] {
            assert!(parse_percent(Param::Loss, bad).is_err(), "{bad}");
        }
        assert!(
            parse_percent(Param::Loss, "101%")
                .unwrap_err()
                .message
                .contains("more than 100%")
        );
    }

    #[test]
    fn rates_in_tcs_units() {
        for (text, bits, shown) in [
            ("10mbit", 10_000_000, "10mbit"),
            ("1gbit", 1_000_000_000, "1gbit"),
            ("500kbit", 500_000, "500kbit"),
            ("1.5mbit", 1_500_000, "1.5mbit"),
            ("100bit", 100, "100bit"),
            ("1kbps", 8_000, "8kbit"),
            ("10MBPS", 80_000_000, "80mbit"),
            ("1kibit", 1024, "1.024kbit"),
            ("2.5gbit", 2_500_000_000, "2.5gbit"),
        ] {
            let r = parse_rate(text).unwrap();
            assert_eq!(r, Rate(bits), "{text}");
            assert_eq!(r.to_string(), shown, "{text}");
        }
        for bad in ["0mbit", "10", "10 furlongs", "-1mbit", "4bit", "11tbit"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert!(parse_rate("0mbit").unwrap_err().message.contains("zero"));
    }

    #[test]
    fn limits_are_positive_packet_counts() {
        assert_eq!(parse_limit("100"), Ok(100));
        assert!(parse_limit("0").unwrap_err().message.contains("0"));
        assert!(parse_limit("-3").is_err());
        assert!(parse_limit("1.5").is_err());
    }

    #[test]
    fn an_endpoints_keys_override_its_links() {
        let link = c(&[(Param::Delay, "20ms"), (Param::Loss, "1%")]);
        let end = c(&[(Param::Loss, "20%")]);
        let both = link.overlaid(&end);
        assert_eq!(both.delay, Some(Time(20_000)));
        assert_eq!(both.loss, Some(Percent(200_000)));
        assert_eq!(both.to_string(), "delay 20ms loss 20%");
        assert_eq!(Conditions::default().to_string(), "none");
    }

    #[test]
    fn zero_means_not_set() {
        let z = c(&[(Param::Loss, "0%"), (Param::Delay, "0ms")]);
        assert!(z.is_empty());
    }

    #[test]
    fn the_kernels_rounding_is_not_drift() {
        let file = c(&[(Param::Rate, "1001bit"), (Param::Loss, "1%")]);
        let live = Conditions {
            rate: Some(Rate::from_bytes(Rate(1001).bytes())),
            loss: Some(Percent::from_u32_scale(Percent(10_000).to_u32_scale())),
            ..Conditions::default()
        };
        assert!(file.matches(&live, Via::Shaper));
        let other = c(&[(Param::Rate, "1001bit"), (Param::Loss, "2%")]);
        assert!(!other.matches(&live, Via::Shaper));
        // netem's default queue is no drift on a netem kernel.
        let thousand = c(&[(Param::Limit, "1000")]);
        assert!(thousand.matches(&Conditions::default(), Via::Netem));
        assert!(!thousand.matches(&Conditions::default(), Via::Shaper));
    }

    #[test]
    fn netem_scale_rounds_like_tc() {
        // The values tc sent for 1% and 0.1% (see kernel::qdisc's tests).
        assert_eq!(Percent(10_000).to_u32_scale(), 0x028f_5c29);
        assert_eq!(Percent(1_000).to_u32_scale(), 0x0041_8937);
        assert_eq!(Percent::from_u32_scale(0x028f_5c29), Percent(10_000));
        assert_eq!(Percent(1_000_000).to_u32_scale(), u32::MAX);
    }

    #[test]
    fn what_needs_netem_is_named() {
        let cond = c(&[
            (Param::Delay, "20ms"),
            (Param::Loss, "1%"),
            (Param::Rate, "1mbit"),
        ]);
        let no_netem = Support {
            netem: false,
            tbf: true,
            nft_egress: true,
            probed: true,
        };
        assert_eq!(
            no_netem.missing(&cond),
            vec![(Param::Delay, Missing::Netem)]
        );
        assert_eq!(no_netem.via(), Via::Shaper);
        let netem = Support {
            netem: true,
            ..no_netem
        };
        assert!(netem.missing(&cond).is_empty());
        assert_eq!(netem.via(), Via::Netem);
    }

    #[test]
    fn loss_tables_are_named_after_their_lab() {
        assert_eq!(loss_table(Some("seed-bridge")), "vnet-seed-bridge");
        assert_eq!(loss_table(None), "vnet");
        assert!(is_loss_table("vnet-a") && is_loss_table("vnet"));
        assert!(!is_loss_table("vnet-") && !is_loss_table("filter") && !is_loss_table("vnetx"));
    }
}
