//! Canonical JSON in: one record per line of an inbox file, one record per push API
//! request body, or a batch body `{"records": [...]}`.
//!
//! Every refusal is an [`Issue`] naming the field by its path (`worker.birth_date`) and
//! the rule (`json.syntax`, `json.schema`, `api.kind`). Messages keep the column and the
//! expected form but never the value that was given: it may be a name, a fiscal code or
//! a birth date, and issues end up in logs and quarantine files.

use crate::{Issue, Record, RecordKind};
use serde_json::Value;

/// Strips the offending value out of serde's "invalid type: string \"RSSMRA...\",
/// expected ..." and similar messages: keeps the rule and the expectation.
fn value_free(msg: &str) -> String {
    for head in ["invalid type", "invalid value", "invalid length", "unknown variant"] {
        if let Some(rest) = msg.strip_prefix(head) {
            return match rest.find(", expected") {
                Some(i) => format!("{head}{}", &rest[i..]),
                None => head.to_string(),
            };
        }
    }
    msg.to_string()
}

/// A JSON value as a record, by its `kind` (`cv` or `vacancy`).
pub fn record_from_value(mut value: Value) -> Result<Record, Issue> {
    let kind = value.as_object_mut().and_then(|m| m.remove("kind"));
    let schema = |e: serde_path_to_error::Error<serde_json::Error>| Issue::error(e.path().to_string(), "json.schema", value_free(&e.into_inner().to_string()));
    match kind.as_ref().and_then(Value::as_str) {
        Some("cv") => serde_path_to_error::deserialize(value).map(|c| Record::Cv(Box::new(c))).map_err(schema),
        Some("vacancy") => serde_path_to_error::deserialize(value).map(|v| Record::Vacancy(Box::new(v))).map_err(schema),
        _ => Err(Issue::error("kind", "json.schema", "field `kind` must be \"cv\" or \"vacancy\"")),
    }
}

/// Parses one canonical JSON line.
pub fn parse_record(line: &str) -> Result<Record, Issue> {
    let value: Value = serde_json::from_str(line).map_err(|e| Issue::error(format!("column {}", e.column()), "json.syntax", value_free(&e.to_string())))?;
    record_from_value(value)
}

/// Parses a push API body holding one record. An endpoint that takes one kind (`want`)
/// fills in `kind` when the body leaves it out, and refuses the other kind (`api.kind`).
pub fn parse_body(body: &[u8], want: Option<RecordKind>) -> Result<Record, Issue> {
    let text = std::str::from_utf8(body).map_err(|_| Issue::error("", "json.syntax", "the body is not UTF-8"))?;
    let mut value: Value = serde_json::from_str(text).map_err(|e| Issue::error(format!("column {}", e.column()), "json.syntax", "the body is not JSON"))?;
    if let (Some(k), Some(o)) = (want, value.as_object_mut()) {
        o.entry("kind").or_insert_with(|| Value::String(k.as_str().to_string()));
    }
    let rec = record_from_value(value)?;
    match want {
        Some(k) if rec.kind() != k => Err(Issue::error("kind", "api.kind", format!("this endpoint takes a {}", k.as_str()))),
        _ => Ok(rec),
    }
}

/// Splits a batch body `{"records": [...]}` into its items, each to be read with
/// [`record_from_value`] and answered on its own.
pub fn batch_items(body: &[u8]) -> Result<Vec<Value>, Issue> {
    let Ok(Value::Object(mut o)) = serde_json::from_slice::<Value>(body) else {
        return Err(Issue::error("", "json.syntax", "the body must be {\"records\": [...]}"));
    };
    match o.remove("records") {
        Some(Value::Array(items)) => Ok(items),
        _ => Err(Issue::error("records", "json.schema", "the body must be {\"records\": [...]}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VACANCY: &str = r#"{"kind": "vacancy", "employer": {"fiscal_code": "07654321095"}}"#;

    #[test]
    fn given_bad_values_the_issue_should_name_the_path_but_not_the_value() {
        let e = parse_record(r#"{"kind": "cv", "worker": {"fiscal_code": 12345678}}"#).unwrap_err();
        assert_eq!((e.path.as_str(), e.rule.as_str()), ("worker.fiscal_code", "json.schema"));
        assert!(!e.message.contains("12345678"), "{}", e.message);
        let e = parse_record(r#"{"kind": "memo"}"#).unwrap_err();
        assert_eq!(e.path, "kind");
        assert_eq!(parse_record("{oops").unwrap_err().rule, "json.syntax");
    }

    #[test]
    fn given_an_endpoint_of_one_kind_the_body_should_get_that_kind_or_be_refused() {
        let body = VACANCY.replace(r#""kind": "vacancy", "#, "");
        let e = parse_body(body.as_bytes(), Some(RecordKind::Cv)).unwrap_err();
        assert_ne!(e.rule, "json.syntax");
        let e = parse_body(VACANCY.as_bytes(), Some(RecordKind::Cv)).unwrap_err();
        assert!(e.rule == "api.kind" || e.rule == "json.schema", "{e:?}");
        assert_eq!(parse_body(&[0xff, 0xfe], None).unwrap_err().message, "the body is not UTF-8");
    }

    #[test]
    fn given_batch_bodies_the_items_or_the_refusal_should_come_back() {
        assert_eq!(batch_items(br#"{"records": [1, {}, "x"]}"#).unwrap().len(), 3);
        assert_eq!(batch_items(br#"{"records": 3}"#).unwrap_err().path, "records");
        assert_eq!(batch_items(b"[]").unwrap_err().rule, "json.syntax");
    }
}
