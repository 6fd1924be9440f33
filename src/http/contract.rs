//! What a feature declares about each of its operations for the OpenAPI document, beside its
//! types: the operation id, the query and header parameters, the request body, the answers
//! particular to it. The route table supplies the rest (method, path and its parameters,
//! security, rate limits, body limits, caching, deprecation) and the generator in
//! [`crate::openapi`] adds the answers every route shares. Native builds only.

use crate::http::Method;
use serde_json::{json, Map, Value};

/// One operation's declaration.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: Method,
    pub path: &'static str,
    pub id: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    /// Query and header parameters (OpenAPI parameter objects).
    pub params: Vec<Value>,
    /// The JSON request body's schema.
    pub body: Option<Value>,
    /// Answers particular to this operation: status → response object.
    pub responses: Vec<(u16, Value)>,
    /// Reads or writes storage (KV, the database): may answer 503 when it is down.
    pub storage: bool,
}

/// Starts a declaration.
pub fn op(method: Method, path: &'static str, id: &'static str, summary: &'static str) -> Op {
    Op {
        method,
        path,
        id,
        summary,
        tag: "",
        params: Vec::new(),
        body: None,
        responses: Vec::new(),
        storage: true,
    }
}

impl Op {
    /// Groups the operation under `tag`.
    pub fn tag(mut self, tag: &'static str) -> Self {
        self.tag = tag;
        self
    }

    /// Adds an optional query parameter.
    pub fn query(mut self, name: &str, schema: Value, description: &str) -> Self {
        self.params
            .push(json!({"name": name, "in": "query", "required": false,
            "schema": schema, "description": description}));
        self
    }

    /// Adds an optional request header.
    pub fn header(mut self, name: &str, schema: Value, description: &str) -> Self {
        self.params
            .push(json!({"name": name, "in": "header", "required": false,
            "schema": schema, "description": description}));
        self
    }

    /// Sets the JSON request body: an object of `properties` (name → schema), `required`
    /// naming the ones that must be present, no other field allowed.
    pub fn body(mut self, properties: Value, required: &[&str]) -> Self {
        self.body = Some(json!({"type": "object", "properties": properties,
            "required": required, "additionalProperties": false}));
        self
    }

    /// Sets the JSON request body to `schema` as given (bodies defined elsewhere, such as the
    /// WebAuthn JSON forms).
    pub fn body_schema(mut self, schema: Value) -> Self {
        self.body = Some(schema);
        self
    }

    /// Adds an answer with a JSON body of `schema` and `headers` (name → header object).
    pub fn json(mut self, status: u16, description: &str, schema: Value, headers: Value) -> Self {
        self.responses.push((
            status,
            json!({"description": description, "headers": headers,
                "content": {"application/json": {"schema": schema}}}),
        ));
        self
    }

    /// Adds an answer without a body.
    pub fn empty(mut self, status: u16, description: &str, headers: Value) -> Self {
        self.responses.push((
            status,
            json!({"description": description, "headers": headers}),
        ));
        self
    }

    /// Adds an error answer (the error envelope) with what causes it here.
    pub fn error(self, status: u16, description: &str) -> Self {
        self.error_with(status, description, json!({}))
    }

    /// Adds an error answer that also carries `headers`.
    pub fn error_with(mut self, status: u16, description: &str, headers: Value) -> Self {
        self.responses
            .push((status, error_response(description, headers)));
        self
    }

    /// Adds links from the answer `status` to other operations (OpenAPI links).
    pub fn links(mut self, status: u16, links: Value) -> Self {
        if let Some((_, resp)) = self.responses.iter_mut().find(|(s, _)| *s == status) {
            resp["links"] = links;
        }
        self
    }

    /// Touches no storage.
    pub fn no_storage(mut self) -> Self {
        self.storage = false;
        self
    }
}

/// A reference to a schema shared in the document's components (`User`, `Note`, `Error` …).
pub fn shared(name: &str) -> Value {
    schema_ref(name)
}

/// A reference to a shared schema.
pub fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A reference to a shared header, required or not.
pub fn header_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

/// Header objects by name, for a response.
pub fn headers(names: &[(&str, &str)]) -> Value {
    let map: Map<String, Value> = names
        .iter()
        .map(|(name, component)| ((*name).to_owned(), header_ref(component)))
        .collect();
    Value::Object(map)
}

/// An error answer: the envelope, described, with `headers`.
pub fn error_response(description: &str, headers: Value) -> Value {
    json!({"description": description, "headers": headers,
        "content": {"application/json": {"schema": schema_ref("Error")}}})
}
