//! The hybrid logical clock (`STORAGE.md` §3).

use std::io;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::address::hash;

/// How far ahead of the local clock a remote timestamp may be (5 s in NTP64 units).
const MAX_DRIFT: u64 = 5 << 32;
/// The same bound for the Unix-nanosecond times in entity metadata.
pub const MAX_DRIFT_NS: u64 = 5_000_000_000;

/// `u64 time ‖ u128 id`, ordered by `(time, id)`. `time` is NTP64 whose low 16 bits count events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize)]
pub struct HybridTimestamp {
    pub time: u64,
    pub id: u128,
}

impl BorshDeserialize for HybridTimestamp {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let time = u64::deserialize_reader(reader)?;
        let id = u128::deserialize_reader(reader)?;
        if id == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HLC id 0 is invalid",
            ));
        }
        Ok(Self { time, id })
    }
}

impl HybridTimestamp {
    /// The smallest timestamp after `self` carrying `id`. At the end of time it stays there
    /// (saturates) rather than wrapping to zero, which would make every later write lose.
    pub fn successor(self, id: u128) -> Self {
        Self {
            time: self.time.saturating_add(1),
            id,
        }
    }
}

/// Converts Unix nanoseconds to NTP64 (seconds in the high 32 bits, fraction in the low 32).
pub fn ntp64_from_unix_ns(ns: u64) -> u64 {
    let seconds = ns / 1_000_000_000;
    let nanos = ns % 1_000_000_000;
    let fraction = (nanos << 32) / 1_000_000_000;
    (seconds << 32) | fraction
}

/// Converts NTP64 back to Unix nanoseconds (rounded down; saturates past `u64::MAX` ns).
pub fn unix_ns_from_ntp64(ntp: u64) -> u64 {
    let seconds = ntp >> 32;
    let fraction = ntp & 0xFFFF_FFFF;
    seconds
        .saturating_mul(1_000_000_000)
        .saturating_add((fraction * 1_000_000_000) >> 32)
}

/// The HLC id of a device: the first 16 bytes of `H(device_id)`, little-endian.
pub fn clock_id(device_id: &[u8; 32]) -> u128 {
    let digest = hash(&[device_id]);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(bytes)
}

/// One device's clock for one execution (`resume` starts it from a time kept elsewhere).
#[derive(Clone, Debug)]
pub struct Clock {
    id: u128,
    last: u64,
}

impl Clock {
    /// A clock for `device_id` that has not issued or seen anything.
    pub fn new(device_id: &[u8; 32]) -> Self {
        Self::resume(device_id, 0)
    }

    /// A clock for `device_id` that last issued or saw NTP64 time `last`.
    pub fn resume(device_id: &[u8; 32], last: u64) -> Self {
        Self {
            id: clock_id(device_id).max(1),
            last,
        }
    }

    /// The newest NTP64 time this clock issued or saw.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// This clock's id.
    pub fn id(&self) -> u128 {
        self.id
    }

    /// A fresh timestamp greater than every one this clock issued or saw.
    pub fn now(&mut self, unix_ns: u64) -> HybridTimestamp {
        let physical = ntp64_from_unix_ns(unix_ns) & !0xFFFF;
        self.last = if physical > self.last {
            physical
        } else {
            self.last.saturating_add(1)
        };
        HybridTimestamp {
            time: self.last,
            id: self.id,
        }
    }

    /// Advances past a remote timestamp; refuses one more than 5 s ahead of `unix_ns`.
    pub fn observe(&mut self, remote: HybridTimestamp, unix_ns: u64) -> Result<(), ClockDrift> {
        let local = ntp64_from_unix_ns(unix_ns);
        if remote.time > local.saturating_add(MAX_DRIFT) {
            return Err(ClockDrift {
                remote: remote.time,
                local,
            });
        }
        self.last = self.last.max(remote.time);
        Ok(())
    }

    /// Advances past a remote Unix-nanosecond time (entity metadata); refuses one more than 5 s
    /// ahead of `unix_ns`.
    pub fn observe_ns(&mut self, remote_ns: u64, unix_ns: u64) -> Result<(), ClockDrift> {
        if remote_ns > unix_ns.saturating_add(MAX_DRIFT_NS) {
            return Err(ClockDrift {
                remote: ntp64_from_unix_ns(remote_ns),
                local: ntp64_from_unix_ns(unix_ns),
            });
        }
        self.last = self.last.max(ntp64_from_unix_ns(remote_ns));
        Ok(())
    }
}

/// A remote timestamp too far in the future.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockDrift {
    pub remote: u64,
    pub local: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp64_splits_seconds_and_fraction() {
        assert_eq!(ntp64_from_unix_ns(1_000_000_000), 1 << 32);
        assert_eq!(ntp64_from_unix_ns(1_500_000_000), (1 << 32) | (1 << 31));
    }

    #[test]
    fn clock_is_strictly_monotonic_under_a_frozen_wall_clock() {
        let mut clock = Clock::new(&[1; 32]);
        let a = clock.now(5_000_000_000);
        let b = clock.now(5_000_000_000);
        let c = clock.now(4_000_000_000);
        assert!(a < b && b < c);
    }

    #[test]
    fn clock_rejects_timestamps_more_than_five_seconds_ahead() {
        let mut clock = Clock::new(&[1; 32]);
        let now = 100_000_000_000;
        let ok = HybridTimestamp {
            time: ntp64_from_unix_ns(now + 4_000_000_000),
            id: 9,
        };
        let bad = HybridTimestamp {
            time: ntp64_from_unix_ns(now + 6_000_000_000),
            id: 9,
        };
        assert!(clock.observe(ok, now).is_ok());
        assert!(clock.observe(bad, now).is_err());
        assert!(
            clock.now(now) > ok,
            "the clock moved past the observed timestamp"
        );
    }

    #[test]
    fn zero_id_does_not_decode() {
        let bytes = borsh::to_vec(&HybridTimestamp { time: 1, id: 0 }).unwrap();
        assert!(HybridTimestamp::try_from_slice(&bytes).is_err());
    }
}
