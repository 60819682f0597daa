//! Servers as they are: what each OpenAI-compatible server needs in a request for an exact
//! output length, whether it takes `stream_options`, and where its Prometheus counters
//! are; and how rigor tells which server it is talking to (docs/llm-serving.md,
//! "Servers as they are", has the table and how each row was tested).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Server {
    Vllm,
    Sglang,
    #[serde(rename = "llama.cpp")]
    LlamaCpp,
    Transformers,
    Trtllm,
    Tgi,
    Openai,
    Generic,
}

pub use crate::define::fields::SERVERS as NAMES;

impl Server {
    /// None for `auto` (detect) and unknown names.
    pub fn parse(s: &str) -> Option<Server> {
        Some(match s {
            "vllm" => Server::Vllm,
            "sglang" => Server::Sglang,
            "llama.cpp" | "llamacpp" | "llama-cpp" => Server::LlamaCpp,
            "transformers" => Server::Transformers,
            "trtllm" | "tensorrt-llm" => Server::Trtllm,
            "tgi" => Server::Tgi,
            "openai" => Server::Openai,
            "generic" => Server::Generic,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Server::Vllm => "vllm",
            Server::Sglang => "sglang",
            Server::LlamaCpp => "llama.cpp",
            Server::Transformers => "transformers",
            Server::Trtllm => "trtllm",
            Server::Tgi => "tgi",
            Server::Openai => "openai",
            Server::Generic => "generic",
        }
    }

    /// Request fields that make the output exactly `max_tokens` long on this server
    /// (`"{max_tokens}"` stands for each request's own), or None where it has none.
    pub fn exact_length_fields(self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let v: serde_json::Value = match self {
            // vLLM, SGLang, llama.cpp and TensorRT-LLM take `ignore_eos` (vLLM's and
            // SGLang's own benchmark clients send it).
            Server::Vllm | Server::Sglang | Server::LlamaCpp | Server::Trtllm | Server::Generic => {
                serde_json::json!({"ignore_eos": true})
            }
            // transformers serve refuses unknown fields (HTTP 422) and has no
            // `ignore_eos`; a `generation_config` (a JSON string) with `min_new_tokens`
            // keeps it generating to max_tokens.
            Server::Transformers => serde_json::json!({
                "generation_config": "{\"min_new_tokens\": {max_tokens}, \"max_new_tokens\": {max_tokens}}"
            }),
            Server::Tgi | Server::Openai => return None,
        };
        v.as_object().cloned()
    }

    /// The path of its Prometheus counters, where it has one.
    pub fn metrics_path(self) -> Option<&'static str> {
        match self {
            Server::Vllm | Server::Sglang | Server::LlamaCpp | Server::Tgi | Server::Generic => {
                Some("/metrics")
            }
            // trtllm-serve's /metrics is JSON iteration statistics, not Prometheus text.
            Server::Trtllm | Server::Transformers | Server::Openai => None,
        }
    }
}

/// What rigor found out about the server before the load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detected {
    pub server: Server,
    /// How: `declared` (the `server` field), or what gave it away.
    pub by: String,
}

/// The server behind a `GET /v1/models` answer (its `Server` header and body) and, when
/// those do not tell, the paths its `/openapi.json` lists.
pub fn identify(
    server_header: Option<&str>,
    models: Option<&serde_json::Value>,
    openapi_paths: &[String],
    host: &str,
) -> Detected {
    let by = |s: Server, why: String| Detected { server: s, by: why };
    if host.ends_with("api.openai.com") {
        return by(Server::Openai, format!("the host {host}"));
    }
    if let Some(h) = server_header
        && h.to_ascii_lowercase().starts_with("llama.cpp")
    {
        return by(Server::LlamaCpp, format!("its Server header `{h}`"));
    }
    let owned_by = models
        .and_then(|m| m["data"].as_array())
        .and_then(|d| d.first())
        .and_then(|m| m["owned_by"].as_str())
        .unwrap_or("");
    let from_owner = match owned_by {
        "vllm" => Some(Server::Vllm),
        "sglang" => Some(Server::Sglang),
        "llamacpp" => Some(Server::LlamaCpp),
        "tensorrt_llm" => Some(Server::Trtllm),
        _ => None,
    };
    if let Some(s) = from_owner {
        return by(s, format!("`owned_by: {owned_by}` in /v1/models"));
    }
    let has = |p: &str| openapi_paths.iter().any(|x| x == p);
    if has("/load_model") && has("/reset") {
        return by(
            Server::Transformers,
            "/load_model and /reset in its /openapi.json".into(),
        );
    }
    if has("/generate_stream") && has("/info") {
        return by(
            Server::Tgi,
            "/generate_stream and /info in its /openapi.json".into(),
        );
    }
    by(
        Server::Generic,
        "nothing identified it (no known Server header, `owned_by` or paths)".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_told_apart_by_what_they_answer() {
        let j = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let d = identify(Some("llama.cpp"), None, &[], "127.0.0.1");
        assert_eq!(d.server, Server::LlamaCpp);
        for (owner, server) in [
            ("vllm", Server::Vllm),
            ("sglang", Server::Sglang),
            ("tensorrt_llm", Server::Trtllm),
        ] {
            let m = j(&format!(
                r#"{{"object":"list","data":[{{"id":"m","owned_by":"{owner}"}}]}}"#
            ));
            assert_eq!(identify(Some("uvicorn"), Some(&m), &[], "x").server, server);
        }
        let paths: Vec<String> = ["/v1/models", "/load_model", "/reset"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let m = j(r#"{"object":"list","data":[{"id":"org/m","owned_by":"org"}]}"#);
        let d = identify(Some("uvicorn"), Some(&m), &paths, "x");
        assert_eq!(d.server, Server::Transformers, "{d:?}");
        assert_eq!(
            identify(None, None, &[], "api.openai.com").server,
            Server::Openai
        );
        assert_eq!(identify(None, Some(&m), &[], "x").server, Server::Generic);
        for n in NAMES.iter().skip(1) {
            assert_eq!(Server::parse(n).unwrap().name(), *n);
        }
    }

    #[test]
    fn each_server_has_its_exact_length_fields() {
        let t = Server::Transformers.exact_length_fields().unwrap();
        assert!(
            t["generation_config"]
                .as_str()
                .unwrap()
                .contains("min_new_tokens")
        );
        assert_eq!(
            Server::Vllm.exact_length_fields().unwrap()["ignore_eos"],
            true
        );
        assert!(Server::Tgi.exact_length_fields().is_none());
        assert!(Server::Transformers.metrics_path().is_none());
    }
}
