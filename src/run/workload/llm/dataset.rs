//! Prompts: synthetic ones of chosen lengths, or a JSONL file. Deterministic from the seed.
//!
//! Without a tokenizer, synthetic lengths are in words of a fixed English list (roughly one
//! to one and a half tokens each with common tokenizers); the report's token counts come from
//! the server's `usage`, not from these lengths.

use super::client::Prompt;
use rand::{RngExt, SeedableRng};
use rand_distr::Distribution;

pub(crate) const WORDS: &[&str] = &[
    "time",
    "year",
    "people",
    "way",
    "day",
    "man",
    "thing",
    "woman",
    "life",
    "child",
    "world",
    "school",
    "state",
    "family",
    "student",
    "group",
    "country",
    "problem",
    "hand",
    "part",
    "place",
    "case",
    "week",
    "company",
    "system",
    "program",
    "question",
    "work",
    "government",
    "number",
    "night",
    "point",
    "home",
    "water",
    "room",
    "mother",
    "area",
    "money",
    "story",
    "fact",
    "month",
    "lot",
    "right",
    "study",
    "book",
    "eye",
    "job",
    "word",
    "business",
    "issue",
    "side",
    "kind",
    "head",
    "house",
    "service",
    "friend",
    "father",
    "power",
    "hour",
    "game",
    "line",
    "end",
    "member",
    "law",
    "car",
    "city",
    "community",
    "name",
    "president",
    "team",
    "minute",
    "idea",
    "kid",
    "body",
    "information",
    "back",
    "parent",
    "face",
    "others",
    "level",
    "office",
    "door",
    "health",
    "person",
    "art",
    "war",
    "history",
    "party",
    "result",
    "change",
    "morning",
    "reason",
    "research",
    "girl",
    "guy",
    "moment",
    "air",
    "teacher",
    "force",
    "education",
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lengths {
    Fixed,
    /// Uniform in [len × (1 − r), len × (1 + r)].
    Uniform(f64),
    /// Normal with this standard deviation as a fraction of the length, at least 1.
    Normal(f64),
}

pub(crate) fn draw(len: u32, how: Lengths, rng: &mut rand_chacha::ChaCha8Rng) -> u32 {
    let x = match how {
        Lengths::Fixed => len as f64,
        Lengths::Uniform(r) => {
            let lo = (len as f64 * (1.0 - r)).max(1.0);
            let hi = (len as f64 * (1.0 + r)).max(lo);
            rng.random_range(lo..=hi)
        }
        Lengths::Normal(sd) => rand_distr::Normal::new(len as f64, sd * len as f64)
            .map(|d| d.sample(rng))
            .unwrap_or(len as f64),
    };
    x.round().max(1.0) as u32
}

/// `n` prompts of about `input_len` words asking for `output_len` tokens.
pub fn synthetic(
    n: usize,
    input_len: u32,
    output_len: u32,
    how: Lengths,
    seed: u64,
) -> Vec<Prompt> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let words = draw(input_len, how, &mut rng);
            let mut text = String::with_capacity(words as usize * 8);
            for i in 0..words {
                if i > 0 {
                    text.push(' ');
                }
                text.push_str(WORDS[rng.random_range(0..WORDS.len())]);
            }
            Prompt {
                text,
                max_tokens: draw(output_len, how, &mut rng),
            }
        })
        .collect()
}

/// Each prompt with one of `k` shared prefixes of `len` words put before it (prompt `i`
/// gets prefix `i mod k`): `k` prefixes × the prompts as suffixes, for prefix caches.
pub fn with_prefixes(prompts: Vec<Prompt>, k: usize, len: u32, seed: u64) -> Vec<Prompt> {
    // Their own stream of the seed: the suffixes stay what they were without prefixes.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7072_6566_6978);
    let prefixes: Vec<String> = (0..k)
        .map(|_| {
            (0..len)
                .map(|_| WORDS[rng.random_range(0..WORDS.len())])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    prompts
        .into_iter()
        .enumerate()
        .map(|(i, p)| Prompt {
            text: format!("{} {}", prefixes[i % k], p.text),
            max_tokens: p.max_tokens,
        })
        .collect()
}

/// Words of one 512-token block of a trace's `hash_ids`: the same id, the same words, so
/// that requests sharing ids share a prefix as they did in the traced service.
fn block_words(id: u64, len: usize, seed: u64, out: &mut Vec<&'static str>) {
    // Its own stream: block 0 must not repeat the filler words drawn from `seed` itself.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
        seed ^ 0x626c_6f63_6b00_0000 ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    out.extend((0..len).map(|_| WORDS[rng.random_range(0..WORDS.len())]));
}

/// Seconds since 1970 of `YYYY-MM-DD HH:MM:SS[.fff…]` (the Azure LLM traces' TIMESTAMP,
/// no zone: only differences are used).
fn civil_seconds(s: &str) -> Option<f64> {
    let (date, time) = s.trim().split_once([' ', 'T'])?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.trim_end_matches('Z').split(':');
    let (h, mi) = (
        t.next()?.parse::<u32>().ok()?,
        t.next()?.parse::<u32>().ok()?,
    );
    let sec_text = t.next()?;
    // Digits and one point only: "NaN" or "inf" are not times.
    if sec_text.is_empty() || !sec_text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let sec = sec_text.parse::<f64>().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec >= 61.0 {
        return None;
    }
    let (h, mi) = (f64::from(h), f64::from(mi));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3600.0 + mi * 60.0 + sec)
}

/// A request trace: the prompts it asks for and when (s from its first request), in the
/// layout of the public Mooncake traces (JSONL: `timestamp` in ms, `input_length`,
/// `output_length`, optional `hash_ids` of 512-token blocks, which become shared word
/// blocks) or the Azure LLM inference traces (CSV: `TIMESTAMP`, `ContextTokens`,
/// `GeneratedTokens`). Lengths are words, as for synthetic prompts.
pub fn trace(text: &str, seed: u64) -> Result<(Vec<Prompt>, Vec<f64>), super::LlmError> {
    let mut rows: Vec<(f64, usize, u32, Vec<u64>)> = Vec::new();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let csv = lines
        .peek()
        .is_some_and(|(_, l)| l.contains("ContextTokens"));
    if csv {
        let (_, header) = lines.next().unwrap_or((0, ""));
        let cols: Vec<&str> = header.split(',').map(str::trim).collect();
        let at = |name: &str| cols.iter().position(|c| *c == name);
        let (Some(ts), Some(inp), Some(outp)) =
            (at("TIMESTAMP"), at("ContextTokens"), at("GeneratedTokens"))
        else {
            return Err(
                "a CSV trace needs the columns TIMESTAMP, ContextTokens, GeneratedTokens".into(),
            );
        };
        for (i, l) in lines {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let bad = || {
                super::LlmError(format!(
                    "line {}: not TIMESTAMP,ContextTokens,GeneratedTokens: {l}",
                    i + 1
                ))
            };
            let t = f.get(ts).and_then(|s| civil_seconds(s)).ok_or_else(bad)?;
            let n = f.get(inp).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            let o = f.get(outp).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            rows.push((t, n, o, Vec::new()));
        }
    } else {
        for (i, l) in lines {
            let v: serde_json::Value = serde_json::from_str(l)
                .map_err(|e| super::LlmError(format!("line {}: {e}", i + 1)))?;
            let bad = |what: &str| super::LlmError(format!("line {}: no {what}: {l}", i + 1));
            let t = v["timestamp"]
                .as_f64()
                .ok_or_else(|| bad("`timestamp` (ms)"))?
                / 1e3;
            let n = v["input_length"]
                .as_u64()
                .ok_or_else(|| bad("`input_length`"))? as usize;
            let o = v["output_length"]
                .as_u64()
                .ok_or_else(|| bad("`output_length`"))? as u32;
            let ids = v["hash_ids"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
                .unwrap_or_default();
            rows.push((t, n, o, ids));
        }
    }
    if rows.is_empty() {
        return Err("the trace holds no request".into());
    }
    if let Some(w) = rows.windows(2).position(|w| w[1].0 < w[0].0) {
        return Err(super::LlmError(format!(
            "request {} of the trace comes before the one above it: a trace must be in time order",
            w + 2
        )));
    }
    let t0 = rows[0].0;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut prompts = Vec::with_capacity(rows.len());
    let mut at = Vec::with_capacity(rows.len());
    for (t, n, o, ids) in rows {
        let mut words: Vec<&'static str> = Vec::with_capacity(n);
        for id in &ids {
            if words.len() >= n {
                break;
            }
            block_words(*id, 512, seed, &mut words);
        }
        words.truncate(n);
        while words.len() < n.max(1) {
            words.push(WORDS[rng.random_range(0..WORDS.len())]);
        }
        prompts.push(Prompt {
            text: words.join(" "),
            max_tokens: o.max(1),
        });
        at.push(t - t0);
    }
    Ok((prompts, at))
}

/// Prompts from a JSONL file: each line a string, or an object with `prompt` (or `text`)
/// and optionally `max_tokens` / `output_len`.
pub fn jsonl(text: &str, default_output: u32) -> Result<Vec<Prompt>, super::LlmError> {
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| super::LlmError(format!("line {}: not JSON: {e}", i + 1)))?;
        let (prompt, max) = match &v {
            serde_json::Value::String(s) => (s.clone(), None),
            serde_json::Value::Object(o) => (
                o.get("prompt")
                    .or_else(|| o.get("text"))
                    .and_then(|p| p.as_str())
                    .ok_or_else(|| super::LlmError(format!("line {}: no `prompt` string", i + 1)))?
                    .to_string(),
                o.get("max_tokens")
                    .or_else(|| o.get("output_len"))
                    .and_then(|m| m.as_u64()),
            ),
            _ => {
                return Err(super::LlmError(format!(
                    "line {}: expected a string or an object",
                    i + 1
                )));
            }
        };
        out.push(Prompt {
            text: prompt,
            max_tokens: max.map_or(default_output, |m| m as u32),
        });
    }
    if out.is_empty() {
        return Err("the file has no prompts".into());
    }
    Ok(out)
}

/// Prompts from a ShareGPT file (a JSON array of `{"conversations": [{"from", "value"}]}`):
/// each conversation's first human turn is the prompt; `max_tokens` is about the length of
/// the first reply (in words × 4/3, without a tokenizer), between 4 and `max_output`.
/// Conversations without both turns are skipped; the order is shuffled by the seed.
pub fn sharegpt(text: &str, max_output: u32, seed: u64) -> Result<Vec<Prompt>, super::LlmError> {
    sharegpt_turns(text, max_output, seed, 1)
}

/// ShareGPT conversations with at least `turns` human turns each followed by a reply, in
/// seeded order, flattened: prompt `c · turns + t` is conversation c's turn t, its
/// `max_tokens` from that turn's reply. One turn is the single-turn dataset.
pub fn sharegpt_turns(
    text: &str,
    max_output: u32,
    seed: u64,
    turns: u32,
) -> Result<Vec<Prompt>, super::LlmError> {
    #[derive(serde::Deserialize)]
    struct Turn {
        from: String,
        value: String,
    }
    #[derive(serde::Deserialize)]
    struct Conversation {
        #[serde(default)]
        conversations: Vec<Turn>,
    }
    let all: Vec<Conversation> = serde_json::from_str(text)
        .map_err(|e| super::LlmError(format!("not a ShareGPT JSON array: {e}")))?;
    let turns = turns.max(1) as usize;
    let mut out: Vec<Vec<Prompt>> = all
        .into_iter()
        .filter_map(|c| {
            // Each human turn with the reply that follows it, in order, up to `turns`.
            let mut pairs = Vec::new();
            let mut at = 0;
            while pairs.len() < turns {
                let human = at
                    + c.conversations[at..]
                        .iter()
                        .position(|t| t.from == "human")?;
                let reply = human
                    + 1
                    + c.conversations[human + 1..]
                        .iter()
                        .position(|t| t.from == "gpt")?;
                let words = c.conversations[reply].value.split_whitespace().count() as u32;
                let prompt = &c.conversations[human].value;
                if prompt.trim().is_empty() || words == 0 {
                    return None;
                }
                pairs.push(Prompt {
                    text: prompt.clone(),
                    max_tokens: (words * 4 / 3).clamp(4, max_output.max(4)),
                });
                at = reply + 1;
            }
            Some(pairs)
        })
        .collect();
    if out.is_empty() {
        return Err(if turns == 1 {
            "no conversation has a human turn followed by a reply".into()
        } else {
            super::LlmError(format!(
                "no conversation has {turns} human turns each followed by a reply: lower `turns`"
            ))
        });
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for i in (1..out.len()).rev() {
        out.swap(i, rng.random_range(0..=i));
    }
    Ok(out.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sharegpt_turns_are_a_conversations_own_human_turns_in_order() {
        let text = r#"[
          {"conversations": [{"from": "human", "value": "a1"}, {"from": "gpt", "value": "x y z"},
                             {"from": "human", "value": "a2"}, {"from": "gpt", "value": "x"}]},
          {"conversations": [{"from": "human", "value": "b1"}, {"from": "gpt", "value": "x"}]},
          {"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "c1"},
                             {"from": "gpt", "value": "x y"}, {"from": "human", "value": "c2"},
                             {"from": "gpt", "value": "x y"}, {"from": "human", "value": "c3"}]}
        ]"#;
        let p = super::sharegpt_turns(text, 64, 1, 2).unwrap();
        let texts: Vec<&str> = p.iter().map(|p| p.text.as_str()).collect();
        // Only conversations with two answered human turns, each kept whole and in order.
        assert_eq!(texts.len(), 4);
        for pair in texts.chunks(2) {
            assert!(pair == ["a1", "a2"] || pair == ["c1", "c2"], "{texts:?}");
        }
        assert_eq!(super::sharegpt_turns(text, 64, 1, 1).unwrap().len(), 3);
        let e = super::sharegpt_turns(text, 64, 1, 3).unwrap_err();
        assert!(e.0.contains("3 human turns"), "{}", e.0);
    }

    #[test]
    fn azure_csv_traces_give_offsets_and_lengths() {
        let csv = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n2023-11-17 00:00:00.5,3,2\n";
        let (p, at) = super::trace(csv, 1).unwrap();
        assert_eq!(p.len(), 3);
        assert!((at[1] - 4.314579).abs() < 1e-6, "{at:?}");
        // Across midnight: 5 h 44 min 13.8194100 s after the first.
        assert!(
            (at[2] - (5.0 * 3600.0 + 44.0 * 60.0 + 13.81941)).abs() < 1e-6,
            "{at:?}"
        );
        assert_eq!((p[0].text.split(' ').count(), p[0].max_tokens), (374, 44));
        assert!(
            super::trace(
                "TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,2\n",
                1
            )
            .is_err()
        );
    }

    #[test]
    fn shared_hash_ids_share_their_words() {
        let jsonl = "{\"timestamp\": 0, \"input_length\": 600, \"output_length\": 4, \"hash_ids\": [7, 8]}\n{\"timestamp\": 1000, \"input_length\": 600, \"output_length\": 4, \"hash_ids\": [7, 9]}\n";
        let (p, at) = super::trace(jsonl, 3).unwrap();
        assert_eq!(at, vec![0.0, 1.0]);
        let w: Vec<Vec<&str>> = p.iter().map(|p| p.text.split(' ').collect()).collect();
        assert_eq!(w[0][..512], w[1][..512]);
        assert_ne!(w[0][512..], w[1][512..]);
    }

    use super::*;

    #[test]
    fn synthetic_prompts_are_deterministic_with_the_asked_lengths() {
        let a = synthetic(50, 20, 8, Lengths::Fixed, 3);
        assert_eq!(a.len(), 50);
        assert!(
            a.iter()
                .all(|p| p.text.split(' ').count() == 20 && p.max_tokens == 8)
        );
        let b = synthetic(50, 20, 8, Lengths::Fixed, 3);
        assert!(a.iter().zip(&b).all(|(x, y)| x.text == y.text));
        let u = synthetic(500, 100, 100, Lengths::Uniform(0.5), 4);
        let lens: Vec<usize> = u.iter().map(|p| p.text.split(' ').count()).collect();
        assert!(lens.iter().all(|&l| (50..=150).contains(&l)));
        let mean = lens.iter().sum::<usize>() as f64 / lens.len() as f64;
        assert!((mean - 100.0).abs() < 5.0, "{mean}");
    }

    #[test]
    fn sharegpt_takes_first_human_turns_and_reply_lengths() {
        let t = r#"[
            {"id": "a", "conversations": [{"from": "human", "value": "Hi there"}, {"from": "gpt", "value": "one two three four five six"}]},
            {"id": "b", "conversations": [{"from": "gpt", "value": "orphan"}]},
            {"id": "c", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}
        ]"#;
        let p = sharegpt(t, 256, 1).unwrap();
        assert_eq!(p.len(), 2);
        let hi = p.iter().find(|x| x.text == "Hi there").unwrap();
        assert_eq!(hi.max_tokens, 8);
        assert_eq!(p.iter().find(|x| x.text == "Q").unwrap().max_tokens, 4);
        assert!(sharegpt("[]", 10, 1).is_err() && sharegpt("{", 10, 1).is_err());
    }

    #[test]
    fn jsonl_reads_strings_and_objects_and_names_bad_lines() {
        let p = jsonl("\"hi\"\n{\"prompt\": \"a b\", \"max_tokens\": 5}\n\n", 16).unwrap();
        assert_eq!((p[0].text.as_str(), p[0].max_tokens), ("hi", 16));
        assert_eq!((p[1].text.as_str(), p[1].max_tokens), ("a b", 5));
        assert!(
            jsonl("{\"x\": 1}", 1)
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
        assert!(jsonl("\n", 1).is_err());
    }
}
