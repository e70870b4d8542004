//! Wiegand frames from the edges of a reader's two data lines.
//!
//! A Wiegand reader holds D0 and D1 high and sends each bit as a short low pulse: on D0 for a
//! 0, on D1 for a 1 (SIA AC-01: pulses of 20–100 µs, 200 µs–20 ms apart). A frame is the bits
//! up to a silence. The door reads the lines through gpiocdev edge events, which carry the
//! kernel's timestamps, so the timing is checked on the times the kernel saw, not on when a
//! busy process got round to reading them.
//!
//! Why every check refuses instead of guessing: a frame with a wrong parity, a pulse of the
//! wrong width, bits too fast or too slow, or both lines low at once is noise, a failing cable
//! or someone probing the bus. Each refusal names its cause ([`Refusal`]) so the reader's
//! counters and log say what is wrong with the wiring; none of them is ever a badge number.
//!
//! Formats: 26-bit (H10301: 8-bit facility, 16-bit card), 34-bit (H10306: 16 + 16), 37-bit
//! (H10304: 16 + 19), each with an even parity bit first and an odd parity bit last over its
//! half of the payload; keypads that send one key per frame as 4 bits or as 8 bits (the high
//! nibble the complement of the low one); and, when configured, any other length as a raw
//! number.

use serde::{Deserialize, Serialize};

/// One of the two data lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// Carries the 0 bits.
    D0,
    /// Carries the 1 bits.
    D1,
}

/// An edge on a data line, at the kernel's timestamp (nanoseconds, monotonic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub line: Line,
    /// `true`: the line went low (a pulse starts); `false`: it went back high.
    pub falling: bool,
    pub at_ns: u64,
}

/// Timing limits, in microseconds (`[[door.readers]]` of kind `wiegand`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timing {
    /// Shortest low pulse accepted.
    pub pulse_min_us: u64,
    /// Longest low pulse accepted.
    pub pulse_max_us: u64,
    /// Shortest time from one bit's start to the next one's.
    pub interval_min_us: u64,
    /// Longest time from one bit's start to the next one's within a frame.
    pub interval_max_us: u64,
    /// Silence that ends a frame; longer than `interval_max_us`, so a bit that comes later than
    /// the interval allows but before the frame ends is a slow frame, not two frames.
    pub frame_gap_us: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            pulse_min_us: 10,
            pulse_max_us: 150,
            interval_min_us: 180,
            interval_max_us: 10_000,
            frame_gap_us: 30_000,
        }
    }
}

impl Timing {
    /// The limits in order, or which one is out of order.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.pulse_min_us >= self.pulse_max_us {
            return Err("pulse_min_us must be below pulse_max_us");
        }
        if self.pulse_max_us >= self.interval_min_us {
            return Err("pulse_max_us must be below interval_min_us");
        }
        if self.interval_min_us >= self.interval_max_us {
            return Err("interval_min_us must be below interval_max_us");
        }
        if self.interval_max_us >= self.frame_gap_us {
            return Err("interval_max_us must be below frame_gap_us");
        }
        Ok(())
    }
}

/// What a frame carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A card: the format's facility code and card number.
    Card {
        bits: u8,
        facility: u32,
        number: u64,
    },
    /// A keypad key: 0–9, 10 (`*`, clear) or 11 (`#`, enter).
    Key(u8),
    /// A frame of another length, as its bits (most significant first), when raw frames are
    /// accepted.
    Raw { bits: u8, value: u64 },
}

/// Why a frame was refused. Counted and logged per reader; never a number from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "cause")]
pub enum Refusal {
    /// A parity bit does not match its half of the payload.
    Parity { bits: u8 },
    /// A bit came sooner after the previous one than `interval_min_us`.
    TooFast { interval_us: u64 },
    /// A bit came later after the previous one than `interval_max_us`.
    TooSlow { interval_us: u64 },
    /// A low pulse outside `pulse_min_us..=pulse_max_us`.
    PulseWidth { width_us: u64 },
    /// Both lines were low at once.
    BothLinesLow,
    /// A length no configured format has (and raw frames are not accepted), or more than 64
    /// bits.
    Length { bits: u8 },
    /// A keypad frame whose high nibble is not the complement of the low one, or a key code
    /// above 11.
    KeyCode,
}

/// Turns the edges of one reader into frames.
#[derive(Debug)]
pub struct Decoder {
    timing: Timing,
    accept_raw: bool,
    bits: Vec<bool>,
    last_bit_ns: Option<u64>,
    /// Start of the pulse now low on D0 / D1.
    low_since: [Option<u64>; 2],
    /// The first fault of the frame under way: it is refused when it ends.
    fault: Option<Refusal>,
}

/// Frames longer than this are refused (and their bits no longer kept).
const MAX_BITS: usize = 64;

impl Decoder {
    pub fn new(timing: Timing, accept_raw: bool) -> Self {
        Self {
            timing,
            accept_raw,
            bits: Vec::new(),
            last_bit_ns: None,
            low_since: [None, None],
            fault: None,
        }
    }

    /// Takes one edge. Returns the previous frame when this edge comes after its closing
    /// silence (the edge then starts the next frame).
    pub fn edge(&mut self, e: Edge) -> Option<Result<Frame, Refusal>> {
        let done = self.poll(e.at_ns);
        let idx = match e.line {
            Line::D0 => 0,
            Line::D1 => 1,
        };
        if e.falling {
            if self.low_since[1 - idx].is_some() {
                self.fault.get_or_insert(Refusal::BothLinesLow);
            }
            self.low_since[idx] = Some(e.at_ns);
            if let Some(last) = self.last_bit_ns {
                let interval_us = e.at_ns.saturating_sub(last) / 1000;
                if interval_us < self.timing.interval_min_us {
                    self.fault.get_or_insert(Refusal::TooFast { interval_us });
                } else if interval_us > self.timing.interval_max_us {
                    self.fault.get_or_insert(Refusal::TooSlow { interval_us });
                }
            }
            self.last_bit_ns = Some(e.at_ns);
            if self.bits.len() < MAX_BITS + 1 {
                self.bits.push(e.line == Line::D1);
            }
        } else if let Some(start) = self.low_since[idx].take() {
            let width_us = e.at_ns.saturating_sub(start) / 1000;
            if width_us < self.timing.pulse_min_us || width_us > self.timing.pulse_max_us {
                self.fault.get_or_insert(Refusal::PulseWidth { width_us });
            }
        }
        done
    }

    /// Ends the frame under way if the lines have been quiet for `frame_gap_us` by `now_ns`
    /// (the reader task calls this on a timer when no edge comes).
    pub fn poll(&mut self, now_ns: u64) -> Option<Result<Frame, Refusal>> {
        let last = self.last_bit_ns?;
        let quiet = now_ns.saturating_sub(last) / 1000 >= self.timing.frame_gap_us;
        if !quiet || self.low_since.iter().any(Option::is_some) {
            return None;
        }
        let bits = std::mem::take(&mut self.bits);
        let fault = self.fault.take();
        self.last_bit_ns = None;
        Some(match fault {
            Some(f) => Err(f),
            None => decode(&bits, self.accept_raw),
        })
    }
}

fn value(bits: &[bool]) -> u64 {
    bits.iter().fold(0, |v, &b| (v << 1) | u64::from(b))
}

fn ones(bits: &[bool]) -> usize {
    bits.iter().filter(|&&b| b).count()
}

/// A card format: the even parity bit covers `bits[..=even_upto]`, the odd one
/// `bits[odd_from..]` (both including the parity bit itself); the facility code is
/// `bits[1..=facility_bits]`, the card number the rest up to the last bit.
fn card(
    bits: &[bool],
    even_upto: usize,
    odd_from: usize,
    facility_bits: usize,
) -> Result<Frame, Refusal> {
    let n = bits.len();
    let len = u8::try_from(n).unwrap_or(u8::MAX);
    if ones(&bits[..=even_upto]) % 2 != 0 || ones(&bits[odd_from..]) % 2 != 1 {
        return Err(Refusal::Parity { bits: len });
    }
    let facility = value(&bits[1..=facility_bits]);
    Ok(Frame::Card {
        bits: len,
        facility: u32::try_from(facility).unwrap_or(u32::MAX),
        number: value(&bits[1 + facility_bits..n - 1]),
    })
}

/// The frame the complete bit string `bits` carries.
pub fn decode(bits: &[bool], accept_raw: bool) -> Result<Frame, Refusal> {
    let len = u8::try_from(bits.len().min(usize::from(u8::MAX))).unwrap_or(u8::MAX);
    match bits.len() {
        4 => match value(bits) {
            k @ 0..=11 => Ok(Frame::Key(u8::try_from(k).unwrap_or(0))),
            _ => Err(Refusal::KeyCode),
        },
        8 => {
            let v = value(bits);
            let (high, low) = (v >> 4, v & 0xF);
            if high != (!low & 0xF) || low > 11 {
                return Err(Refusal::KeyCode);
            }
            Ok(Frame::Key(u8::try_from(low).unwrap_or(0)))
        }
        26 => card(bits, 12, 13, 8),
        34 => card(bits, 16, 17, 16),
        37 => card(bits, 18, 18, 16),
        n if n > MAX_BITS || n == 0 => Err(Refusal::Length { bits: len }),
        _ if accept_raw => Ok(Frame::Raw {
            bits: len,
            value: value(bits),
        }),
        _ => Err(Refusal::Length { bits: len }),
    }
}

/// The bits of a card frame in `format` (26, 34 or 37) with correct parity: what a reader
/// sends. For the simulated reader and the tests (the hardware tests drive these onto
/// gpio-sim lines).
pub fn encode_card(format: u8, facility: u32, number: u64) -> Option<Vec<bool>> {
    let (facility_bits, number_bits, even_upto, odd_from) = match format {
        26 => (8, 16, 12, 13),
        34 => (16, 16, 16, 17),
        37 => (16, 19, 18, 18),
        _ => return None,
    };
    if u64::from(facility) >> facility_bits != 0 || number >> number_bits != 0 {
        return None;
    }
    let mut bits = vec![false];
    bits.extend((0..facility_bits).rev().map(|i| (facility >> i) & 1 == 1));
    bits.extend((0..number_bits).rev().map(|i| (number >> i) & 1 == 1));
    bits.push(false);
    let n = bits.len();
    bits[0] = ones(&bits[1..=even_upto]) % 2 == 1;
    bits[n - 1] = ones(&bits[odd_from..n - 1]) % 2 == 0;
    Some(bits)
}

/// The edges a reader produces for `bits`: each bit a low pulse of `pulse_us` on its line,
/// bits `interval_us` apart, starting at `start_ns`.
pub fn edges_for(bits: &[bool], start_ns: u64, interval_us: u64, pulse_us: u64) -> Vec<Edge> {
    let mut out = Vec::with_capacity(bits.len() * 2);
    for (i, &b) in bits.iter().enumerate() {
        let line = if b { Line::D1 } else { Line::D0 };
        let at = start_ns + i as u64 * interval_us * 1000;
        out.push(Edge {
            line,
            falling: true,
            at_ns: at,
        });
        out.push(Edge {
            line,
            falling: false,
            at_ns: at + pulse_us * 1000,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// Feeds `edges` and then silence; returns every frame that ended.
    fn run(d: &mut Decoder, edges: &[Edge]) -> Vec<Result<Frame, Refusal>> {
        let mut out: Vec<_> = edges.iter().filter_map(|&e| d.edge(e)).collect();
        let end = edges.last().map_or(0, |e| e.at_ns) + 100 * MS;
        out.extend(d.poll(end));
        out
    }

    fn bits(s: &str) -> Vec<bool> {
        s.chars().map(|c| c == '1').collect()
    }

    #[test]
    fn a_26_bit_card_round_trips_with_real_timing() {
        let b = encode_card(26, 123, 45_678).unwrap();
        assert_eq!(b.len(), 26);
        let mut d = Decoder::new(Timing::default(), false);
        let frames = run(&mut d, &edges_for(&b, 5 * MS, 2000, 50));
        assert_eq!(
            frames,
            vec![Ok(Frame::Card {
                bits: 26,
                facility: 123,
                number: 45_678
            })]
        );
    }

    #[test]
    fn the_h10301_reference_frame_decodes() {
        // Facility 1, card 1 (a commonly printed H10301 example): P 00000001 0000000000000001 P,
        // even parity over bits 1–12 (one 1: parity 1), odd over 13–24 (one 1: parity 0).
        let f = decode(&bits("10000000100000000000000010"), false).unwrap();
        assert_eq!(
            f,
            Frame::Card {
                bits: 26,
                facility: 1,
                number: 1
            }
        );
        assert_eq!(
            encode_card(26, 1, 1).unwrap(),
            bits("10000000100000000000000010")
        );
    }

    #[test]
    fn a_34_and_a_37_bit_card_round_trip() {
        for (format, facility, number) in [
            (34u8, 65_535u32, 65_535u64),
            (34, 4_242, 1),
            (37, 1_000, 524_287),
            (37, 0, 7),
        ] {
            let b = encode_card(format, facility, number).unwrap();
            assert_eq!(b.len(), usize::from(format));
            let mut d = Decoder::new(Timing::default(), false);
            assert_eq!(
                run(&mut d, &edges_for(&b, 0, 1000, 40)),
                vec![Ok(Frame::Card {
                    bits: format,
                    facility,
                    number
                })],
                "{format}-bit {facility}:{number}"
            );
        }
    }

    #[test]
    fn out_of_range_fields_are_not_encoded() {
        assert_eq!(encode_card(26, 256, 1), None);
        assert_eq!(encode_card(26, 1, 65_536), None);
        assert_eq!(encode_card(35, 1, 1), None);
    }

    #[test]
    fn every_single_bit_flip_is_a_parity_error() {
        for format in [26u8, 34, 37] {
            let good = encode_card(format, 77, 1234).unwrap();
            for i in 0..good.len() {
                let mut b = good.clone();
                b[i] = !b[i];
                assert_eq!(
                    decode(&b, false),
                    Err(Refusal::Parity { bits: format }),
                    "{format}-bit, bit {i} flipped"
                );
            }
        }
    }

    #[test]
    fn a_slow_frame_is_refused_not_split() {
        let b = encode_card(26, 9, 999).unwrap();
        let mut d = Decoder::new(Timing::default(), false);
        // 15 ms between bits: over interval_max (10 ms), under the frame gap (30 ms).
        let frames = run(&mut d, &edges_for(&b, 0, 15_000, 50));
        assert_eq!(
            frames,
            vec![Err(Refusal::TooSlow {
                interval_us: 15_000
            })]
        );
    }

    #[test]
    fn a_too_fast_frame_and_a_wrong_pulse_are_refused() {
        let b = encode_card(26, 9, 999).unwrap();
        let mut d = Decoder::new(Timing::default(), false);
        assert_eq!(
            run(&mut d, &edges_for(&b, 0, 100, 20)),
            vec![Err(Refusal::TooFast { interval_us: 100 })]
        );
        assert_eq!(
            run(&mut d, &edges_for(&b, 1000 * MS, 2000, 900)),
            vec![Err(Refusal::PulseWidth { width_us: 900 })]
        );
        // The decoder is ready for the next good frame.
        assert!(matches!(
            run(&mut d, &edges_for(&b, 2000 * MS, 2000, 50)).as_slice(),
            [Ok(Frame::Card { number: 999, .. })]
        ));
    }

    #[test]
    fn both_lines_low_is_refused() {
        let card = encode_card(26, 1, 2).unwrap();
        // The other line than the first bit's goes low while that bit's pulse is still low.
        let other = if card[0] { Line::D0 } else { Line::D1 };
        let mut edges = edges_for(&card, 0, 2000, 50);
        edges.insert(
            1,
            Edge {
                line: other,
                falling: true,
                at_ns: 20_000,
            },
        );
        edges.insert(
            2,
            Edge {
                line: other,
                falling: false,
                at_ns: 40_000,
            },
        );
        let mut d = Decoder::new(Timing::default(), false);
        assert_eq!(
            run(&mut d, &edges).first(),
            Some(&Err(Refusal::BothLinesLow))
        );
    }

    #[test]
    fn two_frames_separated_by_the_gap_are_two_reads() {
        let a = encode_card(26, 1, 100).unwrap();
        let b = encode_card(26, 2, 200).unwrap();
        let mut edges = edges_for(&a, 0, 2000, 50);
        edges.extend(edges_for(&b, 200 * MS, 2000, 50));
        let mut d = Decoder::new(Timing::default(), false);
        let numbers: Vec<_> = run(&mut d, &edges)
            .into_iter()
            .map(|f| match f {
                Ok(Frame::Card { number, .. }) => number,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(numbers, vec![100, 200]);
    }

    #[test]
    fn a_frame_does_not_end_while_a_pulse_is_low() {
        let mut d = Decoder::new(Timing::default(), false);
        assert_eq!(
            d.edge(Edge {
                line: Line::D0,
                falling: true,
                at_ns: 0
            }),
            None
        );
        assert_eq!(d.poll(100 * MS), None, "the line is still low");
    }

    #[test]
    fn keypad_codes_in_4_and_8_bits() {
        for key in 0u8..=11 {
            let four: Vec<bool> = (0..4).rev().map(|i| (key >> i) & 1 == 1).collect();
            assert_eq!(decode(&four, false), Ok(Frame::Key(key)));
            let byte = ((!key & 0xF) << 4) | key;
            let eight: Vec<bool> = (0..8).rev().map(|i| (byte >> i) & 1 == 1).collect();
            assert_eq!(decode(&eight, false), Ok(Frame::Key(key)));
        }
        assert_eq!(
            decode(&bits("1100"), false),
            Err(Refusal::KeyCode),
            "12 is no key"
        );
        assert_eq!(
            decode(&bits("00010001"), false),
            Err(Refusal::KeyCode),
            "high nibble not the complement"
        );
    }

    #[test]
    fn other_lengths_only_when_raw_is_accepted() {
        let b = bits("1011001110001");
        assert_eq!(decode(&b, false), Err(Refusal::Length { bits: 13 }));
        assert_eq!(
            decode(&b, true),
            Ok(Frame::Raw {
                bits: 13,
                value: 0b1011001110001
            })
        );
        assert_eq!(decode(&[true; 65], true), Err(Refusal::Length { bits: 65 }));
    }

    #[test]
    fn default_timing_is_in_order_and_disorder_is_named() {
        assert_eq!(Timing::default().validate(), Ok(()));
        let t = Timing {
            interval_max_us: 40_000,
            ..Timing::default()
        };
        assert_eq!(
            t.validate(),
            Err("interval_max_us must be below frame_gap_us")
        );
    }
}
