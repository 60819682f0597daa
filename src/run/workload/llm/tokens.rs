//! A local tokenizer (a Hugging Face `tokenizer.json`): prompts of exact token lengths, and
//! token counts for servers that return no `usage`. Never used while requests are timed.

use super::client::Prompt;
use super::dataset::{Lengths, WORDS, draw};
use rand::{RngExt, SeedableRng};

pub struct LocalTokenizer(tokenizers::Tokenizer);

impl LocalTokenizer {
    pub fn load(path: &str) -> Result<LocalTokenizer, super::LlmError> {
        tokenizers::Tokenizer::from_file(path)
            .map(LocalTokenizer)
            .map_err(|e| super::LlmError(format!("tokenizer {path}: {e}")))
    }

    /// Tokens in `text`, without special tokens a server might add (BOS).
    pub fn count(&self, text: &str) -> Result<u64, super::LlmError> {
        self.0
            .encode(text, false)
            .map(|e| e.len() as u64)
            .map_err(|e| super::LlmError(format!("cannot tokenize: {e}")))
    }
}

/// `n` prompts of exactly the drawn number of tokens (as this tokenizer counts them), built
/// from the word list; each prompt's length is verified by encoding it whole.
pub fn synthetic_exact(
    tok: &LocalTokenizer,
    n: usize,
    input_len: u32,
    output_len: u32,
    how: Lengths,
    seed: u64,
) -> Result<Vec<Prompt>, super::LlmError> {
    // A word after a space is usually one token; its count is measured once.
    let costs: Vec<u64> = WORDS
        .iter()
        .map(|w| tok.count(&format!(" {w}")))
        .collect::<Result<_, _>>()?;
    let single: Vec<usize> = (0..WORDS.len()).filter(|&i| costs[i] == 1).collect();
    if single.is_empty() {
        return Err("the tokenizer splits every word of the prompt list; exact lengths need single-token words".into());
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let target = draw(input_len, how, &mut rng) as u64;
        let max_tokens = draw(output_len, how, &mut rng);
        let first = WORDS[single[rng.random_range(0..single.len())]];
        let mut words = vec![first.to_string()];
        let mut have = tok.count(first)?;
        while have < target {
            words.push(WORDS[single[rng.random_range(0..single.len())]].to_string());
            have += 1;
        }
        let mut text = words.join(" ");
        // Verify; where merges across words change the count, trim or pad until exact.
        let mut count = tok.count(&text)?;
        let mut guard = 0;
        while count != target && guard < 64 {
            if count > target && words.len() > 1 {
                words.pop();
            } else {
                words.push(WORDS[single[rng.random_range(0..single.len())]].to_string());
            }
            text = words.join(" ");
            count = tok.count(&text)?;
            guard += 1;
        }
        if count != target {
            return Err(super::LlmError(format!(
                "cannot build a prompt of exactly {target} tokens with this tokenizer (got {count})"
            )));
        }
        out.push(Prompt { text, max_tokens });
    }
    Ok(out)
}
