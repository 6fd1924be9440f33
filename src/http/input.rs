//! A JSON request body read field by field into domain types (422). [`Input`] rejects unknown
//! fields (no mass assignment) and parses each known field into its domain type, collecting
//! every problem so a client sees all of them in one answer.

use crate::error::{AppError, FieldIssue};
use serde_json::{Map, Value};

pub use crate::domain::Issue;

/// A JSON object being read field by field into domain types.
#[derive(Debug)]
pub struct Input {
    fields: Map<String, Value>,
    issues: Vec<FieldIssue>,
    /// Issues beyond what an error lists, counted only.
    omitted: usize,
}

/// One field of a merge patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patch<T> {
    /// Absent: unchanged.
    Keep,
    /// `null`: removed.
    Remove,
    /// A new value.
    Set(T),
}

/// Reads a JSON string value through a string parser.
pub fn string<T>(
    parse: impl FnOnce(&str) -> Result<T, Issue>,
) -> impl FnOnce(&Value) -> Result<T, Issue> {
    move |v| v.as_str().ok_or("expected_string").and_then(parse)
}

/// The answer to a body that is valid JSON but not an object: 422, `$: expected_object`.
fn not_an_object() -> AppError {
    AppError::validation(vec![FieldIssue::new("$", "expected_object")])
        .with_message("The request body must be a JSON object.")
}

/// Checks that a body read whole (such as WebAuthn's forms) is an object, with the answer
/// [`Input::new`] gives one that is not.
pub fn require_object(value: &Value) -> Result<(), AppError> {
    if value.is_object() {
        Ok(())
    } else {
        Err(not_an_object())
    }
}

impl Input {
    /// Starts reading `value`, which must be an object whose keys are all in `allowed`.
    pub fn new(value: Value, allowed: &[&str]) -> Result<Self, AppError> {
        let Value::Object(fields) = value else {
            return Err(not_an_object());
        };
        // Only as many unknown keys are kept as an error lists: a body of thousands of keys
        // costs neither memory nor a large answer.
        let mut unknown = fields.keys().filter(|k| !allowed.contains(&k.as_str()));
        let issues = unknown
            .by_ref()
            .take(crate::error::MAX_DETAILS)
            .map(|k| FieldIssue::new(k.clone(), "unknown_field"))
            .collect();
        let omitted = unknown.count();
        Ok(Self {
            fields,
            issues,
            omitted,
        })
    }

    /// Reads a required string field through `parse`.
    pub fn required<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, Issue>,
    ) -> Option<T> {
        match self.fields.get(name) {
            None | Some(Value::Null) => {
                self.issues.push(FieldIssue::new(name, "required"));
                None
            }
            Some(_) => self.optional(name, parse),
        }
    }

    /// Reads an optional string field through `parse`; absent or `null` gives `None`.
    pub fn optional<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, Issue>,
    ) -> Option<T> {
        match self.fields.get(name) {
            None | Some(Value::Null) => None,
            Some(value) => {
                let parsed = string(parse)(value);
                self.kept(name, parsed)
            }
        }
    }

    /// Reads an optional field of any JSON type through `parse`; absent or `null` gives `None`.
    pub fn optional_value<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&Value) -> Result<T, Issue>,
    ) -> Option<T> {
        let parsed = self.fields.get(name).filter(|v| !v.is_null()).map(parse)?;
        self.kept(name, parsed)
    }

    /// Reads a field for a JSON Merge Patch (RFC 7396): absent means "leave as is", `null`
    /// means "remove" (the caller decides what that means for the field).
    pub fn patch<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&Value) -> Result<T, Issue>,
    ) -> Patch<T> {
        match self.fields.get(name) {
            None => Patch::Keep,
            Some(Value::Null) => Patch::Remove,
            Some(value) => {
                let parsed = parse(value);
                self.kept(name, parsed).map_or(Patch::Keep, Patch::Set)
            }
        }
    }

    /// The value of a parsed field, or `None` with its issue recorded.
    fn kept<T>(&mut self, name: &'static str, parsed: Result<T, Issue>) -> Option<T> {
        parsed.map_err(|issue| self.reject(name, issue)).ok()
    }

    /// Returns true once any issue has been recorded.
    pub fn has_issues(&self) -> bool {
        !self.issues.is_empty()
    }

    /// Records an issue found by the caller (e.g. a field that may not be removed).
    pub fn reject(&mut self, name: &'static str, issue: Issue) {
        self.issues.push(FieldIssue::new(name, issue));
    }

    /// Ends reading: every issue found becomes one 422 with all details.
    pub fn finish(self) -> Result<(), AppError> {
        if self.issues.is_empty() {
            Ok(())
        } else {
            Err(AppError::validation(self.issues).with_omitted(self.omitted))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thousands_of_unknown_keys_give_a_small_error() {
        let body: Map<String, Value> = (0..8700).map(|i| (format!("key{i}"), json!(1))).collect();
        let err = Input::new(Value::Object(body), &["email"])
            .unwrap()
            .finish()
            .unwrap_err();
        assert_eq!(err.details().len(), crate::error::MAX_DETAILS);
        assert!(err.to_body("r").len() < 2_000);
        let body: Value = serde_json::from_slice(&err.to_body("r")).unwrap();
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("8680 more"));
    }

    fn non_empty(s: &str) -> Result<String, Issue> {
        if s.is_empty() {
            Err("empty")
        } else {
            Ok(s.to_owned())
        }
    }

    #[test]
    fn input_collects_every_issue() {
        let mut input = Input::new(
            json!({"a": "", "b": 5, "role": "admin", "id": "x"}),
            &["a", "b", "c"],
        )
        .unwrap();
        assert_eq!(input.required("a", non_empty), None);
        assert_eq!(input.required("b", non_empty), None);
        assert_eq!(input.required("c", non_empty), None);
        let err = input.finish().unwrap_err();
        assert_eq!(err.status(), 422);
        let mut got: Vec<_> = err
            .details()
            .iter()
            .map(|d| format!("{}:{}", d.field, d.issue))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                "a:empty",
                "b:expected_string",
                "c:required",
                "id:unknown_field",
                "role:unknown_field"
            ]
        );
    }

    #[test]
    fn input_yields_parsed_values() {
        let mut input = Input::new(
            json!({"a": "x", "b": null, "c": null}),
            &["a", "b", "c", "d"],
        )
        .unwrap();
        assert_eq!(input.required("a", non_empty).as_deref(), Some("x"));
        // `null` on an optional field is the field left out, whatever its type.
        assert_eq!(input.optional("b", non_empty), None);
        assert_eq!(input.optional_value("c", string(non_empty)), None);
        assert_eq!(input.optional_value("d", string(non_empty)), None);
        assert!(input.finish().is_ok());
        let mut input = Input::new(json!({"c": 5}), &["c"]).unwrap();
        assert_eq!(input.optional_value("c", string(non_empty)), None);
        assert_eq!(
            input.finish().unwrap_err().details()[0].issue,
            "expected_string"
        );
    }

    #[test]
    fn merge_patch_fields_distinguish_absent_null_and_values() {
        let mut input =
            Input::new(json!({"a": null, "b": "x", "c": 5}), &["a", "b", "c", "d"]).unwrap();
        assert_eq!(input.patch("a", string(non_empty)), Patch::Remove);
        assert_eq!(
            input.patch("b", string(non_empty)),
            Patch::Set("x".to_string())
        );
        assert_eq!(input.patch("c", string(non_empty)), Patch::Keep);
        assert_eq!(input.patch("d", string(non_empty)), Patch::Keep);
        let err = input.finish().unwrap_err();
        assert_eq!(err.details()[0].field, "c");
        assert_eq!(err.details()[0].issue, "expected_string");
    }

    #[test]
    fn non_objects_are_refused() {
        let err = Input::new(json!([1, 2]), &[]).unwrap_err();
        assert_eq!(err.status(), 422);
        assert_eq!(err.details()[0].issue, "expected_object");
        // A body read whole gets the same answer.
        for value in [json!([1, 2]), json!(null), json!("x")] {
            assert_eq!(require_object(&value).unwrap_err(), err, "{value}");
        }
        assert!(require_object(&json!({})).is_ok());
    }
}
