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
    let mut out: Vec<Prompt> = all
        .into_iter()
        .filter_map(|c| {
            let human = c.conversations.iter().position(|t| t.from == "human")?;
            let reply = c.conversations[human + 1..]
                .iter()
                .find(|t| t.from == "gpt")?;
            let words = reply.value.split_whitespace().count() as u32;
            let prompt = &c.conversations[human].value;
            (!prompt.trim().is_empty() && words > 0).then(|| Prompt {
                text: prompt.clone(),
                max_tokens: (words * 4 / 3).clamp(4, max_output.max(4)),
            })
        })
        .collect();
    if out.is_empty() {
        return Err("no conversation has a human turn followed by a reply".into());
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for i in (1..out.len()).rev() {
        out.swap(i, rng.random_range(0..=i));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
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
