//! schemas/ for the push API: the JSON Schema of the canonical record is generated from
//! the model (schemars) and must be current; every record the gateway accepts conforms
//! to it; the OpenAPI document names exactly the API's routes, and the real API's
//! answers (see `api.rs`) conform to the response schemas it declares.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use crate::root;

/// Where the tests pretend the two files are served from, side by side, so that the
/// OpenAPI document's relative `$ref` to the record schema resolves.
const BASE: &str = "https://schemas.silgate.invalid/";

/// The record schema as the model defines it (`silgate schema`).
fn generated() -> Value {
    serde_json::from_str(&generated_text()).unwrap()
}

fn generated_text() -> String {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_silgate")).arg("schema").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn openapi() -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("schemas/push-api.openapi.json")).unwrap()).unwrap()
}

/// Serves the record schema at its place beside the OpenAPI document; nothing else.
struct Schemas(Value);

impl jsonschema::Retrieve for Schemas {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        if uri.as_str() == format!("{BASE}canonical-record.schema.json") { Ok(self.0.clone()) } else { Err(format!("no schema at {uri}").into()) }
    }
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options().with_retriever(Schemas(generated())).build(schema).unwrap()
}

fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[test]
fn given_the_canonical_model_its_json_schema_in_schemas_should_be_current() {
    let path = root().join("schemas/canonical-record.schema.json");
    let want = generated_text();
    if std::env::var_os("SILGATE_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(have == want, "{} is not what the model generates: run the schemas tests with SILGATE_BLESS=1", path.display());
}

#[test]
fn given_every_record_the_gateway_reads_it_should_conform_to_the_schema() {
    let v = validator(&json!({"$ref": format!("{BASE}canonical-record.schema.json")}));
    let mut texts = vec![include_str!("../../crates/silgate/samples/demo.jsonl").to_string()];
    for e in std::fs::read_dir(root().join("tests/fixtures/canonical")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            texts.push(std::fs::read_to_string(p).unwrap());
        }
    }
    let mut checked = 0;
    for line in texts.iter().flat_map(|t| t.lines()).filter(|l| !l.trim().is_empty()) {
        let Ok(value) = serde_json::from_str::<Value>(line) else { continue };
        // What serde takes, the schema takes (the schema cannot check code tables).
        if serde_json::from_value::<silgate_core::Record>(value.clone()).is_ok() {
            assert!(errors(&v, &value).is_empty(), "{:?}\n{line}", errors(&v, &value));
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked}");
    // What serde refuses for its shape, the schema refuses too.
    let mut cv: Value = serde_json::from_str(include_str!("../../crates/silgate/samples/demo.jsonl").lines().next().unwrap()).unwrap();
    cv["worker"]["shoe_size"] = json!(44);
    assert!(!errors(&v, &cv).is_empty(), "an unknown field");
    cv["worker"].as_object_mut().unwrap().remove("shoe_size");
    cv["kind"] = json!("memo");
    assert!(!errors(&v, &cv).is_empty(), "an unknown kind");
    cv["kind"] = json!("cv");
    cv["worker"]["birth_date"] = json!("14/02/1988");
    assert!(!errors(&v, &cv).is_empty(), "a date not YYYY-MM-DD");
}

/// The routes the API serves (crates/silgate-gateway/src/drivers/api.rs), with their methods.
const ROUTES: [(&str, &str); 4] = [("/v1/vacancies", "post"), ("/v1/cvs", "post"), ("/v1/batch", "post"), ("/v1/records/{id}", "get")];

#[test]
fn given_the_openapi_document_it_should_describe_exactly_the_routes_served() {
    let doc = openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((path.clone(), method.clone()));
        }
    }
    documented.sort();
    let mut served: Vec<(String, String)> = ROUTES.iter().map(|(p, m)| ((*p).to_string(), (*m).to_string())).collect();
    served.sort();
    assert_eq!(documented, served);
    let api = std::fs::read_to_string(root().join("crates/silgate-gateway/src/drivers/api.rs")).unwrap();
    for (p, m) in ROUTES {
        assert!(api.contains(&format!(".route(\"{p}\", {m}(")), "api.rs does not serve {m} {p}");
    }
    // Every local $ref points at something.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    out.push(r.clone());
                }
                o.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        match r.strip_prefix('#') {
            Some(ptr) => assert!(doc.pointer(ptr).is_some(), "dangling {r}"),
            None => assert!(root().join("schemas").join(&r).is_file(), "{r} is not in schemas/"),
        }
    }
}

/// Asserts that `body`, answered with `status` to `method path`, is what the OpenAPI
/// document declares for it.
pub(crate) fn conforms(method: &str, path: &str, status: u16, body: &Value) {
    let doc = openapi();
    let mut resp = doc["paths"][path][method]["responses"][status.to_string()].clone();
    assert!(!resp.is_null(), "{method} {path} answered {status}, which the OpenAPI document does not declare");
    if let Some(r) = resp.get("$ref").and_then(Value::as_str) {
        resp = doc.pointer(r.trim_start_matches('#')).unwrap().clone();
    }
    let schema = &resp["content"]["application/json"]["schema"];
    let mut root_schema = json!({"$id": format!("{BASE}push-api.openapi.json"), "components": doc["components"]});
    // A `$ref`, or a schema of its own (a `oneOf` of refs).
    for (k, v) in schema.as_object().into_iter().flatten() {
        root_schema[k] = v.clone();
    }
    let v = validator(&root_schema);
    let errs = errors(&v, body);
    assert!(errs.is_empty(), "{method} {path} {status}: {errs:?}\n{body}");
}

#[test]
#[should_panic(expected = "post /v1/vacancies 202")]
fn given_an_answer_off_the_contract_conforms_should_fail() {
    conforms("post", "/v1/vacancies", 202, &json!({"id": 7, "status": "queued"}));
}
