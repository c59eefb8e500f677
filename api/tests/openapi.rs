//! The OpenAPI description (`api/openapi.json`, served at `/openapi.json`) kept
//! true against the router: every documented operation is routed and answers
//! only the statuses it documents, with bodies of the documented shapes; every
//! SPEC §4 route is documented and nothing else is; the documented examples
//! are accepted, in the order a user would send them; runs of flows and of
//! consent changes have the documented shape.

mod support;

use avvio_common::domain::WorkspaceId;
use avvio_common::domain::{Branch, StepPath};
use avvio_common::ports::{KeyHash, Management};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use support::{
    KEY_A, KEY_B, NUMBER_A, Reply, System, appointment_flow, phrase_automation, promemoria, start, text_webhook,
};

/// SPEC §4's routes, as (method, path template): the document must describe exactly these.
const SPEC_ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/webhooks/whatsapp"),
    ("POST", "/webhooks/whatsapp"),
    ("POST", "/hooks/automations/{id}"),
    ("GET", "/v1/workspace"),
    ("PUT", "/v1/workspace"),
    ("GET", "/v1/templates"),
    ("POST", "/v1/templates/sync"),
    ("PUT", "/v1/templates/{name}/{language}"),
    ("DELETE", "/v1/templates/{name}/{language}"),
    ("GET", "/v1/automations"),
    ("POST", "/v1/automations"),
    ("GET", "/v1/automations/{id}"),
    ("PUT", "/v1/automations/{id}"),
    ("DELETE", "/v1/automations/{id}"),
    ("POST", "/v1/automations/{id}/run"),
    ("GET", "/v1/automations/{id}/diagram"),
    ("GET", "/v1/automations/{id}/versions"),
    ("GET", "/v1/automations/{id}/versions/{version}"),
    ("GET", "/v1/automations/{id}/stats"),
    ("GET", "/v1/contacts"),
    ("GET", "/v1/contacts/{phone}"),
    ("PUT", "/v1/contacts/{phone}"),
    ("DELETE", "/v1/contacts/{phone}"),
    ("PUT", "/v1/lists/{list}/contacts/{phone}"),
    ("DELETE", "/v1/lists/{list}/contacts/{phone}"),
    ("GET", "/v1/runs"),
    ("GET", "/v1/runs/{id}"),
    ("POST", "/v1/simulate"),
];

/// The methods a path item may hold, as OpenAPI spells them.
const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/// The verify token [`support::start`] configures.
const VERIFY_TOKEN: &str = "verify";

fn document() -> Value {
    serde_json::from_str(avvio_api::OPENAPI).expect("api/openapi.json is JSON")
}

/// One documented operation.
struct Operation<'a> {
    method: String,
    path: &'a str,
    op: &'a Value,
    /// The path item's parameters and the operation's, `$ref`s resolved.
    parameters: Vec<&'a Value>,
}

impl Operation<'_> {
    fn key(&self) -> (String, String) {
        (self.method.clone(), self.path.to_string())
    }

    fn management(&self) -> bool {
        self.path.starts_with("/v1/")
    }

    fn statuses(&self) -> BTreeSet<u16> {
        let responses = self.op["responses"].as_object().expect("every operation has responses");
        responses
            .keys()
            .map(|k| k.parse().unwrap_or_else(|_| panic!("{}: status `{k}` is not a number", self)))
            .collect()
    }

    fn example(&self, name: &str) -> Option<&Value> {
        self.parameters.iter().find(|p| p["name"] == name).map(|p| &p["example"])
    }

    /// The concrete path, each `{param}` replaced by `values` or else by its documented example.
    fn concrete(&self, values: &[(&str, &str)]) -> String {
        let mut path = self.path.to_string();
        while let Some(open) = path.find('{') {
            let close = open + path[open..].find('}').unwrap();
            let name = path[open + 1..close].to_string();
            let parameter = self.parameters.iter().find(|p| p["name"] == name.as_str() && p["in"] == "path");
            let parameter =
                parameter.unwrap_or_else(|| panic!("{self}: `{{{name}}}` is not a documented path parameter"));
            assert_eq!(parameter["required"], true, "{self}: path parameter `{name}` must be required");
            let value = match values.iter().find(|(n, _)| *n == name) {
                Some((_, value)) => value.to_string(),
                None => {
                    parameter["example"].as_str().unwrap_or_else(|| panic!("{self}: `{name}` has no example")).into()
                }
            };
            path.replace_range(open..=close, &encode(&value));
        }
        path
    }

    /// The concrete path with every documented query parameter set to its example, but
    /// `cursor`: a listing is read from its first page (the cursor's example is tried alone).
    fn concrete_with_query(&self, values: &[(&str, &str)]) -> String {
        let query: Vec<String> = self
            .parameters
            .iter()
            .filter(|p| p["in"] == "query" && p["name"] != "cursor")
            .map(|p| {
                let example = match &p["example"] {
                    Value::String(example) => example.clone(),
                    number => number.to_string(),
                };
                format!("{}={}", encode(p["name"].as_str().unwrap()), encode(&example))
            })
            .collect();
        if query.is_empty() { self.concrete(values) } else { format!("{}?{}", self.concrete(values), query.join("&")) }
    }

    /// The request body's example (`name` picks one of several `examples`).
    fn body_example(&self, doc: &Value, name: Option<&str>) -> Value {
        let media = &resolve(doc, &self.op["requestBody"])["content"]["application/json"];
        let example = match name {
            Some(name) => &media["examples"][name]["value"],
            None => &media["example"],
        };
        assert!(!example.is_null(), "{self}: no request example {name:?}");
        example.clone()
    }

    fn body_example_names(&self, doc: &Value) -> Vec<String> {
        let media = &resolve(doc, &self.op["requestBody"])["content"]["application/json"];
        media["examples"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }
}

impl std::fmt::Display for Operation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

fn operations(doc: &Value) -> Vec<Operation<'_>> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("the document has paths") {
        let shared: Vec<&Value> =
            item["parameters"].as_array().into_iter().flatten().map(|p| resolve(doc, p)).collect();
        for method in METHODS {
            let Some(op) = item.get(*method) else { continue };
            let mut parameters = shared.clone();
            parameters.extend(op["parameters"].as_array().into_iter().flatten().map(|p| resolve(doc, p)));
            all.push(Operation { method: method.to_uppercase(), path, op, parameters });
        }
    }
    all
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> Operation<'a> {
    operations(doc)
        .into_iter()
        .find(|o| o.method == method && o.path == path)
        .unwrap_or_else(|| panic!("{method} {path} is not documented"))
}

/// Follows `$ref`s (local ones, `#/...`) to what they name.
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("`{reference}` is not a local $ref"));
        value = doc.pointer(pointer).unwrap_or_else(|| panic!("`{reference}` names nothing"));
    }
    value
}

/// Percent-encodes everything but unreserved characters.
fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether `value` satisfies `schema`, for the JSON Schema keywords the document uses
/// (`format` and `pattern` are not checked). The error names where and why.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(expected) = schema.get("const") {
        if expected != value {
            return Err(format!("{at}: {value} is not {expected}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            other => return Err(format!("{at}: the schema's type {other} is not a type")),
        };
        let is = |t: &str| match t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            other => panic!("{at}: unknown type `{other}` in the document"),
        };
        if !types.iter().any(|t| is(t)) {
            return Err(format!("{at}: {value} is not of type {types:?}"));
        }
    }
    for sub in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        conforms(doc, sub, value, at)?;
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let errors: Vec<String> = any.iter().filter_map(|s| conforms(doc, s, value, at).err()).collect();
        if errors.len() == any.len() {
            return Err(format!("{at}: matches none of anyOf: {errors:?}"));
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let results: Vec<Result<(), String>> = one.iter().map(|s| conforms(doc, s, value, at)).collect();
        let matched = results.iter().filter(|r| r.is_ok()).count();
        if matched != 1 {
            let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
            return Err(format!("{at}: matches {matched} of oneOf (exactly 1 needed): {errors:?}"));
        }
    }
    match value {
        Value::Object(map) => {
            for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                if !map.contains_key(name.as_str().unwrap()) {
                    return Err(format!("{at}: required `{}` is missing", name.as_str().unwrap()));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (key, item) in map {
                let here = format!("{at}.{key}");
                if let Some(names) = schema.get("propertyNames") {
                    conforms(doc, names, &Value::String(key.clone()), &here)?;
                }
                match (properties.and_then(|p| p.get(key)), schema.get("additionalProperties")) {
                    (Some(property), _) => conforms(doc, property, item, &here)?,
                    (None, Some(Value::Bool(false))) => return Err(format!("{here}: not a documented property")),
                    (None, Some(additional @ Value::Object(_))) => conforms(doc, additional, item, &here)?,
                    (None, _) => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    conforms(doc, item_schema, item, &format!("{at}[{i}]"))?;
                }
            }
            let count = items.len() as u64;
            if schema.get("minItems").and_then(Value::as_u64).is_some_and(|min| count < min)
                || schema.get("maxItems").and_then(Value::as_u64).is_some_and(|max| count > max)
            {
                return Err(format!("{at}: {count} items is out of bounds"));
            }
            if schema["uniqueItems"] == true && items.iter().enumerate().any(|(i, a)| items[..i].contains(a)) {
                return Err(format!("{at}: items are not unique"));
            }
        }
        Value::String(s) => {
            let count = s.chars().count() as u64;
            if schema.get("minLength").and_then(Value::as_u64).is_some_and(|min| count < min)
                || schema.get("maxLength").and_then(Value::as_u64).is_some_and(|max| count > max)
            {
                return Err(format!("{at}: {value} has a length out of bounds"));
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap();
            if schema.get("minimum").and_then(Value::as_f64).is_some_and(|min| n < min)
                || schema.get("maximum").and_then(Value::as_f64).is_some_and(|max| n > max)
            {
                return Err(format!("{at}: {n} is out of bounds"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Asserts that `status` is documented for `op` and that `body` has the documented shape.
fn assert_documented(doc: &Value, op: &Operation<'_>, (status, body): &Reply) {
    assert!(op.statuses().contains(status), "{op} answered {status}, documented {:?}: {body}", op.statuses());
    let response = resolve(doc, &op.op["responses"][status.to_string()]);
    match response.get("content") {
        None => assert!(body.is_null(), "{op} {status} documents no body, got {body}"),
        Some(content) => {
            let schema = &content["application/json"]["schema"];
            assert!(!schema.is_null(), "{op} {status}: the test reads JSON replies only, documented {content}");
            if let Err(e) = conforms(doc, schema, body, "body") {
                panic!("{op} {status} is not as documented: {e}\n{body:#}");
            }
        }
    }
}

/// Calls a documented operation: path parameters from `values` or their examples, the
/// management key on `/v1`, and checks the reply is documented. Returns the reply.
async fn call_documented(
    system: &System,
    doc: &Value,
    method: &str,
    template: &str,
    values: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let op = operation(doc, method, template);
    let key = op.management().then_some(KEY_A);
    let path = if method == "GET" { op.concrete_with_query(values) } else { op.concrete(values) };
    let reply = system.call(method, &path, key, body).await;
    assert_documented(doc, &op, &reply);
    reply
}

#[tokio::test]
async fn the_served_document_is_the_crate_constant_in_openapi_3_1_with_a_bearer_scheme() {
    let system = start().await;
    let response = system.http.get(format!("{}/openapi.json", system.base)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let doc = document();
    assert_eq!(served, doc);

    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")), "{}", doc["openapi"]);
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!((bearer["type"].as_str(), bearer["scheme"].as_str()), (Some("http"), Some("bearer")));
    assert_eq!(doc["security"], json!([{ "bearer": [] }]), "the key is the default; public routes opt out");
}

#[tokio::test]
async fn every_reference_resolves_and_every_operation_is_named_and_summarised() {
    fn walk(doc: &Value, value: &Value) {
        match value {
            Value::Object(map) => {
                if map.contains_key("$ref") {
                    resolve(doc, value);
                }
                map.values().for_each(|v| walk(doc, v));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(doc, v)),
            _ => {}
        }
    }
    let doc = document();
    walk(&doc, &doc);

    let mut ids = BTreeSet::new();
    for op in operations(&doc) {
        let id = op.op["operationId"].as_str().unwrap_or_else(|| panic!("{op} has no operationId"));
        assert!(ids.insert(id), "operationId `{id}` is used twice");
        assert!(op.op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{op} has no summary");
        assert!(!op.statuses().is_empty(), "{op} documents no response");
        for parameter in &op.parameters {
            assert!(parameter["schema"].is_object(), "{op}: parameter {} has no schema", parameter["name"]);
        }
    }
}

#[tokio::test]
async fn every_documented_example_has_the_shape_its_schema_documents() {
    /// Media types and parameters: `example`, `examples.*.value`; schemas: `examples` arrays.
    fn walk(doc: &Value, value: &Value, at: &str, checked: &mut usize) {
        match value {
            Value::Object(map) => {
                if let Some(schema) = map.get("schema") {
                    let mut examples: Vec<(String, &Value)> = Vec::new();
                    examples.extend(map.get("example").map(|e| (format!("{at}.example"), e)));
                    for (name, example) in map.get("examples").and_then(Value::as_object).into_iter().flatten() {
                        examples.push((format!("{at}.examples.{name}"), &example["value"]));
                    }
                    for (here, example) in examples {
                        if let Err(e) = conforms(doc, schema, example, &here) {
                            panic!("a documented example is not as documented: {e}");
                        }
                        *checked += 1;
                    }
                }
                if let Some(examples) = map.get("examples").and_then(Value::as_array) {
                    for (i, example) in examples.iter().enumerate() {
                        conforms(doc, value, example, &format!("{at}.examples[{i}]")).unwrap();
                        *checked += 1;
                    }
                }
                for (key, v) in map {
                    walk(doc, v, &format!("{at}.{key}"), checked);
                }
            }
            Value::Array(items) => {
                items.iter().enumerate().for_each(|(i, v)| walk(doc, v, &format!("{at}[{i}]"), checked))
            }
            _ => {}
        }
    }
    let doc = document();
    let mut checked = 0;
    walk(&doc, &doc, "#", &mut checked);
    assert!(checked > 50, "only {checked} examples were found");
}

#[tokio::test]
async fn the_spec_routes_are_exactly_the_documented_operations() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = operations(&doc).iter().map(Operation::key).collect();
    let spec: BTreeSet<(String, String)> = SPEC_ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(spec.len(), SPEC_ROUTES.len(), "SPEC_ROUTES lists a route twice");
    let undocumented: Vec<_> = spec.difference(&documented).collect();
    let not_in_spec: Vec<_> = documented.difference(&spec).collect();
    assert!(
        undocumented.is_empty() && not_in_spec.is_empty(),
        "undocumented: {undocumented:?}; not in SPEC: {not_in_spec:?}"
    );
}

#[tokio::test]
async fn the_key_is_required_on_v1_and_on_nothing_else() {
    let doc = document();
    for op in operations(&doc) {
        let security = op.op.get("security").unwrap_or(&doc["security"]);
        if op.management() {
            assert_eq!(security, &json!([{ "bearer": [] }]), "{op}");
            for status in [401, 503] {
                assert!(op.statuses().contains(&status), "{op} can answer {status} and must document it");
            }
        } else {
            assert_eq!(security, &json!([]), "{op} is public");
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_answers_only_documented_statuses() {
    let system = start().await;
    let doc = document();
    for op in operations(&doc) {
        let key = op.management().then_some(KEY_A);
        let body = op.op.get("requestBody").map(|_| json!({}));
        let reply = system.call(&op.method, &op.concrete(&[]), key, body).await;
        let (status, body) = &reply;
        assert!(!(*status == 404 && body["error"]["code"] == "no_route"), "{op} is not routed: {body}");
        assert_ne!(*status, 405, "{op} is routed without this method: {body}");
        assert_documented(&doc, &op, &reply);
    }
}

#[tokio::test]
async fn methods_a_documented_path_does_not_document_are_405() {
    let system = start().await;
    let doc = document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let op = operations(&doc).into_iter().find(|o| o.path == path.as_str()).unwrap();
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            if item.get(method.to_lowercase()).is_some() {
                continue;
            }
            let (status, body) = system.call(method, &op.concrete(&[]), Some(KEY_A), Some(json!({}))).await;
            assert_eq!((status, body["error"]["code"].as_str()), (405, Some("method_not_allowed")), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn every_v1_operation_answers_401_without_a_valid_key_as_documented() {
    let system = start().await;
    let doc = document();
    let management: Vec<_> = operations(&doc).into_iter().filter(Operation::management).collect();
    assert_eq!(management.len(), 25);
    for op in management {
        assert!(op.statuses().contains(&401), "{op} does not document 401");
        for key in [None, Some("not-a-key")] {
            let reply = system.call(&op.method, &op.concrete(&[]), key, Some(json!({}))).await;
            assert_eq!(reply.0, 401, "{op} with {key:?}: {}", reply.1);
            assert_eq!(reply.1["error"]["code"], "unauthorized");
            assert_documented(&doc, &op, &reply);
        }
    }
}

#[tokio::test]
async fn a_created_automation_has_every_property_the_automation_schema_requires() {
    let system = start().await;
    let doc = document();
    let (status, created) =
        call_documented(&system, &doc, "POST", "/v1/automations", &[], Some(phrase_automation("info", "Info"))).await;
    assert_eq!(status, 201, "{created}");
    let required = doc["components"]["schemas"]["Automation"]["required"].as_array().unwrap();
    assert!(required.len() >= 6, "{required:?}");
    for name in required {
        assert!(created.get(name.as_str().unwrap()).is_some(), "`{name}` is missing from {created}");
    }
    // The 201 names the Automation schema, not an ad-hoc one.
    let schema = &doc["paths"]["/v1/automations"]["post"]["responses"]["201"]["content"]["application/json"]["schema"];
    assert_eq!(schema["$ref"], "#/components/schemas/Automation");
}

#[tokio::test]
async fn the_verification_handshake_answers_the_challenge_as_plain_text_as_documented() {
    let system = start().await;
    let doc = document();
    let op = operation(&doc, "GET", "/webhooks/whatsapp");
    let query = |token: &str| {
        format!(
            "{}/webhooks/whatsapp?hub.mode={}&hub.verify_token={token}&hub.challenge={}",
            system.base,
            op.example("hub.mode").unwrap().as_str().unwrap(),
            op.example("hub.challenge").unwrap().as_str().unwrap(),
        )
    };
    let response = system.http.get(query(VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(op.op["responses"]["200"]["content"]["text/plain"].is_object(), "documented as text/plain");
    assert_eq!(response.text().await.unwrap(), op.example("hub.challenge").unwrap().as_str().unwrap());

    let reply = system.call("GET", &query("wrong").replace(&system.base, ""), None, None).await;
    assert_eq!(reply.0, 403);
    assert_documented(&doc, &op, &reply);
}

/// Reads the documented example automation's diagram: 200 with the documented media type
/// and Mermaid text (the reply's body is not JSON, so it is answered as `null`).
async fn diagram_documented(system: &System, doc: &Value, template: &str) -> Reply {
    let op = operation(doc, "GET", template);
    let response =
        system.http.get(format!("{}{}", system.base, op.concrete(&[]))).bearer_auth(KEY_A).send().await.unwrap();
    let status = response.status().as_u16();
    assert!(op.statuses().contains(&status), "{op} answered {status}");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(content_type, "text/vnd.mermaid; charset=utf-8");
    assert!(op.op["responses"]["200"]["content"]["text/vnd.mermaid"].is_object(), "documented as text/vnd.mermaid");
    let chart = response.text().await.unwrap();
    assert!(chart.starts_with("flowchart TD\n"), "{chart}");
    (status, Value::Null)
}

/// Which documented operations a tour reached with a success.
#[derive(Default)]
struct Tour(BTreeSet<(String, String)>);

impl Tour {
    fn expect(&mut self, method: &str, path: &str, (status, body): &Reply, expected: u16) {
        assert_eq!(*status, expected, "{method} {path}: {body}");
        self.0.insert((method.to_string(), path.to_string()));
    }
}

#[tokio::test]
async fn the_documented_examples_are_accepted_in_the_order_a_user_sends_them() {
    // Meta's template list (the sync's), served by the stand-in Graph API.
    let page = std::fs::read_to_string(avvio_tests::fixtures().join("meta/message_templates_page1.json")).unwrap();
    let graph =
        avvio_tests::graph::StandInGraph::start().await.with_templates(vec![serde_json::from_str(&page).unwrap()]);
    let mut system = support::start_with_graph(&graph.base).await;
    let doc = document();
    let mut tour = Tour::default();
    let example = |method: &str, path: &str| operation(&doc, method, path).body_example(&doc, None);

    // The workspace document, then its templates.
    let path = "/v1/workspace";
    let reply = call_documented(&system, &doc, "PUT", path, &[], Some(example("PUT", path))).await;
    tour.expect("PUT", path, &reply, 200);
    let reply = call_documented(&system, &doc, "GET", path, &[], None).await;
    tour.expect("GET", path, &reply, 200);
    assert_eq!(
        (reply.1["whatsapp"]["access_token_set"].as_bool(), reply.1["webhook_secret_set"].as_bool()),
        (Some(true), Some(true))
    );
    let sent = example("PUT", path);
    let shown = reply.1.to_string();
    for secret in [&sent["whatsapp"]["access_token"], &sent["webhook_secret"]] {
        assert!(!shown.contains(secret.as_str().unwrap()), "a write-only secret is shown: {shown}");
    }

    let path = "/v1/templates/{name}/{language}";
    let template = example("PUT", path);
    let reply = call_documented(&system, &doc, "PUT", path, &[("name", "conferma")], Some(template.clone())).await;
    tour.expect("PUT", path, &reply, 201);
    let reply = call_documented(&system, &doc, "PUT", path, &[], Some(template)).await;
    assert_eq!(reply.0, 200, "the example names the workspace example's template: {}", reply.1);
    let reply = call_documented(&system, &doc, "GET", "/v1/templates", &[], None).await;
    tour.expect("GET", "/v1/templates", &reply, 200);
    assert_eq!(reply.1["templates"].as_array().unwrap().len(), 2, "{}", reply.1);

    // Every example automation.
    let post = operation(&doc, "POST", "/v1/automations");
    let names = post.body_example_names(&doc);
    assert!(names.len() >= 3, "{names:?}");
    for name in &names {
        let automation = post.body_example(&doc, Some(name));
        let reply = call_documented(&system, &doc, "POST", "/v1/automations", &[], Some(automation.clone())).await;
        tour.expect("POST", "/v1/automations", &reply, 201);
        assert_eq!((&reply.1["id"], reply.1["version"].as_u64()), (&automation["id"], Some(1)), "{name}");
    }
    let reply = call_documented(&system, &doc, "GET", "/v1/automations", &[], None).await;
    tour.expect("GET", "/v1/automations", &reply, 200);
    assert_eq!(reply.1["items"].as_array().unwrap().len(), names.len());
    let path = "/v1/automations/{id}";
    let reply = call_documented(&system, &doc, "GET", path, &[], None).await;
    tour.expect("GET", path, &reply, 200);
    let diagram = "/v1/automations/{id}/diagram";
    let reply = diagram_documented(&system, &doc, diagram).await;
    tour.expect("GET", diagram, &reply, 200);
    let reply = call_documented(&system, &doc, "PUT", path, &[], Some(example("PUT", path))).await;
    tour.expect("PUT", path, &reply, 200);
    assert_eq!(reply.1["version"], 2);

    // Every version is kept; an old one reads back as a document to PUT back (a restore).
    let path = "/v1/automations/{id}/versions";
    let reply = call_documented(&system, &doc, "GET", path, &[], None).await;
    tour.expect("GET", path, &reply, 200);
    let versions: Vec<(&Value, bool)> =
        reply.1["versions"].as_array().unwrap().iter().map(|v| (&v["version"], v["saved_at"].is_string())).collect();
    assert_eq!(versions, [(&json!(1), true), (&json!(2), true)], "{}", reply.1);
    let path = "/v1/automations/{id}/versions/{version}";
    let reply = call_documented(&system, &doc, "GET", path, &[], None).await;
    tour.expect("GET", path, &reply, 200);
    assert_eq!((reply.1["version"].as_u64(), reply.1["saved_at"].is_string()), (Some(1), true), "{}", reply.1);
    let input = json!({ "$ref": "#/components/schemas/AutomationInput" });
    if let Err(e) = conforms(&doc, &input, &reply.1, "body") {
        panic!("an old version is not a document to PUT back: {e}");
    }

    // A simulation: its lines, and nothing stored (the example contact is created below).
    let path = "/v1/simulate";
    let reply = call_documented(&system, &doc, "POST", path, &[], Some(example("POST", path))).await;
    tour.expect("POST", path, &reply, 200);
    let documented =
        &resolve(&doc, &operation(&doc, "POST", path).op["responses"]["200"])["content"]["application/json"];
    assert_eq!(reply.1, documented["example"], "the documented answer is the example's");

    // A contact, a list, a manual run, an integration call and a WhatsApp message.
    let path = "/v1/contacts/{phone}";
    let reply = call_documented(&system, &doc, "PUT", path, &[], Some(example("PUT", path))).await;
    tour.expect("PUT", path, &reply, 201);
    let reply = call_documented(&system, &doc, "GET", path, &[], None).await;
    tour.expect("GET", path, &reply, 200);
    let path = "/v1/lists/{list}/contacts/{phone}";
    let reply = call_documented(&system, &doc, "PUT", path, &[], None).await;
    tour.expect("PUT", path, &reply, 202);
    let path = "/v1/automations/{id}/run";
    let reply = call_documented(&system, &doc, "POST", path, &[], Some(example("POST", path))).await;
    tour.expect("POST", path, &reply, 202);
    let path = "/hooks/automations/{id}";
    let reply = call_documented(&system, &doc, "POST", path, &[], Some(example("POST", path))).await;
    tour.expect("POST", path, &reply, 202);
    let path = "/webhooks/whatsapp";
    let status = system.webhook(example("POST", path).to_string().into_bytes()).await;
    assert_documented(&doc, &operation(&doc, "POST", path), &(status, Value::Null));
    tour.expect("POST", path, &(status, Value::Null), 200);
    system.settle().await;

    let reply = call_documented(&system, &doc, "GET", "/v1/contacts", &[], None).await;
    tour.expect("GET", "/v1/contacts", &reply, 200);
    let contacts = reply.1["items"].as_array().unwrap();
    assert_eq!(contacts.len(), 1, "the example filters (tag and list) find the example contact: {}", reply.1);

    // What ran: the example filters find the example contact's runs of the example automation...
    let reply = call_documented(&system, &doc, "GET", "/v1/runs", &[], None).await;
    tour.expect("GET", "/v1/runs", &reply, 200);
    let runs = reply.1["items"].as_array().unwrap();
    let causes: BTreeSet<&str> = runs.iter().map(|r| r["cause"]["type"].as_str().unwrap()).collect();
    assert_eq!(causes, BTreeSet::from(["manual", "message"]), "{}", reply.1);
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let reply = call_documented(&system, &doc, "GET", "/v1/runs/{id}", &[("id", &id)], None).await;
    tour.expect("GET", "/v1/runs/{id}", &reply, 200);
    assert!(!reply.1["steps"].as_array().unwrap().is_empty(), "{}", reply.1);
    // ...and, unfiltered, runs of every cause have the documented shape.
    let reply = system.call("GET", "/v1/runs", Some(KEY_A), None).await;
    assert_documented(&doc, &operation(&doc, "GET", "/v1/runs"), &reply);
    let causes: BTreeSet<&str> =
        reply.1["items"].as_array().unwrap().iter().map(|r| r["cause"]["type"].as_str().unwrap()).collect();
    assert_eq!(causes, BTreeSet::from(["integration", "list", "manual", "message"]), "{}", reply.1);
    let all_runs = reply.1["items"].as_array().unwrap().clone();

    // Stats: the documented window, then the default one (the 7 days ending today), which
    // counts every run of the example automation, each once at its first step.
    let path = "/v1/automations/{id}/stats";
    let reply = call_documented(&system, &doc, "GET", path, &[], None).await;
    tour.expect("GET", path, &reply, 200);
    let stats = operation(&doc, "GET", path);
    let reply = system.call("GET", &stats.concrete(&[]), Some(KEY_A), None).await;
    assert_documented(&doc, &stats, &reply);
    let automation = stats.example("id").unwrap();
    let started = all_runs.iter().filter(|r| &r["automation"] == automation).count() as i64;
    assert!(started > 0, "the example automation ran: {all_runs:?}");
    assert_eq!(
        (&reply.1["automation"], reply.1["runs"]["started"].as_i64()),
        (automation, Some(started)),
        "{}",
        reply.1
    );
    let first = &reply.1["steps"]["steps[0]"];
    let by_code = |counts: &Value| counts.as_object().unwrap().values().map(|n| n.as_i64().unwrap()).sum::<i64>();
    let recorded = ["done", "pending"].iter().map(|k| first[k].as_i64().unwrap()).sum::<i64>()
        + by_code(&first["failed"])
        + by_code(&first["skipped"]);
    assert_eq!(recorded, started, "{}", reply.1);

    // The templates as Meta has them (its list holds the example template too).
    let reply = call_documented(&system, &doc, "POST", "/v1/templates/sync", &[], None).await;
    tour.expect("POST", "/v1/templates/sync", &reply, 200);

    // Undo it all.
    for (path, expected) in [
        ("/v1/lists/{list}/contacts/{phone}", 202),
        ("/v1/contacts/{phone}", 204),
        ("/v1/automations/{id}", 204),
        ("/v1/templates/{name}/{language}", 204),
    ] {
        let reply = call_documented(&system, &doc, "DELETE", path, &[], None).await;
        tour.expect("DELETE", path, &reply, expected);
    }

    // The public reads.
    for path in ["/health", "/openapi.json"] {
        let reply = call_documented(&system, &doc, "GET", path, &[], None).await;
        tour.expect("GET", path, &reply, 200);
    }
    // A numeric challenge, so the plain-text reply also reads as JSON for `System::call`.
    let challenge = format!("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=7");
    let reply = system.call("GET", &challenge, None, None).await;
    tour.expect("GET", "/webhooks/whatsapp", &reply, 200);

    let documented: BTreeSet<(String, String)> = operations(&doc).iter().map(Operation::key).collect();
    let missed: Vec<_> = documented.difference(&tour.0).collect();
    assert!(missed.is_empty(), "the tour reached these with no success: {missed:?}");
}

/// The codes the `Error` schema names (its `code` description, each in backticks).
fn documented_error_codes(doc: &Value) -> BTreeSet<String> {
    let description = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["description"]
        .as_str()
        .expect("the error code is described");
    description.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// Sends `body` as it is (not JSON, too large) and checks the reply is documented for `method template`.
async fn raw_documented(
    system: &System,
    doc: &Value,
    method: &str,
    template: &str,
    path: &str,
    body: Vec<u8>,
) -> Reply {
    let op = operation(doc, method, template);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = system
        .http
        .request(method, format!("{}{path}", system.base))
        .bearer_auth(KEY_A)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let reply = (status, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap());
    assert_documented(doc, &op, &reply);
    reply
}

#[tokio::test]
async fn every_error_code_the_document_names_is_answered_as_documented_by_a_request_a_user_can_send() {
    let mut system = start().await;
    let doc = document();
    let error = json!({ "$ref": "#/components/schemas/Error" });
    let tag = json!({ "after": "0s", "action": { "type": "add_tag", "tag": "x" } });
    let automation = |id: &str, steps: Value| json!({ "id": id, "name": id, "trigger": { "type": "customer_message", "phrase": format!("frase {id}") }, "steps": steps });
    let step = |action: Value| json!({ "after": "0s", "action": action });
    let wait = |branches: Value| step(json!({ "type": "wait_for_reply", "timeout": "1h", "branches": branches }));
    let mut deep = json!([tag]);
    for _ in 0..9 {
        deep = json!([step(json!({ "type": "wait_for_reply", "timeout": "1h", "otherwise": deep }))]);
    }
    let named = json!({ "status": "approved", "parameter_format": "named", "body": "Ciao {{first_name}}" });
    assert_eq!(system.put("/v1/templates/promo/it", KEY_A, named).await.0, 201);
    assert_eq!(system.post("/v1/automations", KEY_A, phrase_automation("info", "Vorrei informazioni")).await.0, 201);
    let ordine = json!({ "id": "ordine", "name": "ordine", "trigger": { "type": "integration", "secret": "segreto-123" },
                         "steps": [tag] });
    assert_eq!(system.post("/v1/automations", KEY_A, ordine.clone()).await.0, 201);
    let mut spenta = automation("spenta", json!([tag]));
    spenta["enabled"] = json!(false);
    assert_eq!(system.post("/v1/automations", KEY_A, spenta).await.0, 201);
    let blocca = automation("blocca", json!([step(json!({ "type": "block_contact" }))]));
    assert_eq!(system.post("/v1/automations", KEY_A, blocca).await.0, 201);
    assert_eq!(system.post("/v1/automations/blocca/run", KEY_A, json!({ "phone": "393339999999" })).await.0, 202);
    system.settle().await;
    system.deps.store.put_api_key(&KeyHash::of("key-c"), &WorkspaceId::parse("c").unwrap()).await.unwrap();

    // (what a user does, method, documented path, concrete path, key, body, status, code)
    type Case<'a> = (&'a str, &'a str, &'a str, String, Option<&'a str>, Option<Value>, u16, &'a str);
    let a = Some(KEY_A);
    let post_automation = |what, body, status, code| -> Case<'_> {
        (what, "POST", "/v1/automations", "/v1/automations".into(), a, Some(body), status, code)
    };
    let put_template = |what, body, code| -> Case<'_> {
        (what, "PUT", "/v1/templates/{name}/{language}", "/v1/templates/t/it".into(), a, Some(body), 422, code)
    };
    let cases: Vec<Case<'_>> = vec![
        (
            "an unknown query parameter",
            "GET",
            "/v1/contacts",
            "/v1/contacts?tags=vip".into(),
            a,
            None,
            400,
            "bad_request",
        ),
        (
            "a stats window backwards",
            "GET",
            "/v1/automations/{id}/stats",
            "/v1/automations/info/stats?since=2026-12-01&until=2026-11-01".into(),
            a,
            None,
            400,
            "bad_request",
        ),
        ("no key", "GET", "/v1/workspace", "/v1/workspace".into(), None, None, 401, "unauthorized"),
        (
            "a wrong secret",
            "POST",
            "/hooks/automations/{id}",
            "/hooks/automations/ordine".into(),
            None,
            Some(json!({ "secret": "sbagliato", "phone": "393331234567" })),
            401,
            "unauthorized",
        ),
        (
            "a wrong verify token",
            "GET",
            "/webhooks/whatsapp",
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=x&hub.challenge=c".into(),
            None,
            None,
            403,
            "forbidden",
        ),
        (
            "an unknown automation",
            "GET",
            "/v1/automations/{id}",
            "/v1/automations/nessuna".into(),
            a,
            None,
            404,
            "not_found",
        ),
        (
            "an unknown contact",
            "GET",
            "/v1/contacts/{phone}",
            "/v1/contacts/393330000000".into(),
            a,
            None,
            404,
            "not_found",
        ),
        (
            "a hook of a non-integration",
            "POST",
            "/hooks/automations/{id}",
            "/hooks/automations/info".into(),
            None,
            Some(json!({ "secret": "segreto-123", "phone": "393331234567" })),
            404,
            "not_found",
        ),
        post_automation(
            "the same phrase twice",
            phrase_automation("info2", "vorrei  INFORMAZIONI"),
            409,
            "phrase_conflict",
        ),
        post_automation(
            "a second outside_hours",
            json!({ "id": "fuori2", "name": "f", "trigger": { "type": "outside_hours" }, "steps": [tag] }),
            201,
            "",
        ),
        post_automation(
            "a third outside_hours",
            json!({ "id": "fuori3", "name": "f", "trigger": { "type": "outside_hours" }, "steps": [tag] }),
            409,
            "fallback_conflict",
        ),
        post_automation("an id taken", phrase_automation("info", "Altro"), 409, "duplicate_id"),
        (
            "an integration id of another workspace",
            "POST",
            "/v1/automations",
            "/v1/automations".into(),
            Some(KEY_B),
            Some(ordine),
            409,
            "id_taken",
        ),
        (
            "another workspace's number",
            "PUT",
            "/v1/workspace",
            "/v1/workspace".into(),
            Some(KEY_B),
            Some(json!({ "timezone": "Europe/Rome", "whatsapp": { "phone_number_id": NUMBER_A } })),
            409,
            "number_taken",
        ),
        (
            "a template twice",
            "PUT",
            "/v1/workspace",
            "/v1/workspace".into(),
            a,
            Some(json!({ "timezone": "Europe/Rome", "whatsapp": { "phone_number_id": NUMBER_A }, "templates": [
                { "name": "t", "language": "it", "status": "approved", "body": "x" },
                { "name": "t", "language": "it", "status": "approved", "body": "y" } ] })),
            409,
            "duplicate_template",
        ),
        (
            "running a disabled automation",
            "POST",
            "/v1/automations/{id}/run",
            "/v1/automations/spenta/run".into(),
            a,
            Some(json!({ "phone": "393331234567" })),
            409,
            "automation_disabled",
        ),
        (
            "listing a blocked contact",
            "PUT",
            "/v1/lists/{list}/contacts/{phone}",
            "/v1/lists/vip/contacts/393339999999".into(),
            a,
            None,
            409,
            "contact_blocked",
        ),
        (
            "simulating without a document",
            "POST",
            "/v1/simulate",
            "/v1/simulate".into(),
            Some("key-c"),
            Some(json!({ "events": [] })),
            409,
            "workspace_not_set",
        ),
        (
            "too many events",
            "POST",
            "/v1/simulate",
            "/v1/simulate".into(),
            a,
            Some(json!({ "events": vec![json!({ "at": "2026-11-23T09:00:00Z",
                "list_add": { "list": "vip", "phone": "393331234567" } }); 10_001] })),
            413,
            "too_many_events",
        ),
        post_automation(
            "a blank text",
            automation("a1", json!([step(json!({ "type": "send_text", "text": " " }))])),
            422,
            "invalid_value",
        ),
        post_automation(
            "an unknown key",
            json!({ "id": "a2", "name": "a2", "colour": 1,
            "trigger": { "type": "customer_message", "phrase": "a2" }, "steps": [tag] }),
            422,
            "unknown_field",
        ),
        post_automation("no trigger", json!({ "id": "a3", "name": "a3", "steps": [tag] }), 422, "missing_field"),
        post_automation(
            "an unknown action",
            automation("a4", json!([step(json!({ "type": "send_fax" }))])),
            422,
            "unknown_type",
        ),
        post_automation(
            "a text too long",
            automation("a5", json!([step(json!({ "type": "send_text", "text": "x".repeat(4097) }))])),
            422,
            "too_long",
        ),
        post_automation(
            "no buttons",
            automation("a6", json!([step(json!({ "type": "send_buttons", "text": "t", "buttons": [] }))])),
            422,
            "invalid_buttons",
        ),
        post_automation(
            "no sections",
            automation("a7", json!([step(json!({ "type": "send_list", "text": "t", "button": "b", "sections": [] }))])),
            422,
            "invalid_sections",
        ),
        post_automation(
            "an http link",
            automation("a8", json!([step(json!({ "type": "send_media", "media": "image", "link": "http://x.it" }))])),
            422,
            "invalid_url",
        ),
        post_automation(
            "a param the template lacks",
            automation(
                "a9",
                json!([step(json!({ "type": "send_template",
            "template": "promo", "language": "it", "params": { "nome": "x" } }))]),
            ),
            422,
            "template_params_mismatch",
        ),
        post_automation(
            "a step after a wait",
            automation("a10", json!([wait(json!([])), tag])),
            422,
            "unreachable_step",
        ),
        post_automation(
            "a condition without branches",
            automation("a11", json!([step(json!({ "type": "condition", "branches": [] }))])),
            422,
            "invalid_branches",
        ),
        post_automation(
            "a reply in two branches",
            automation(
                "a12",
                json!([wait(json!([
            { "reply": ["Sì"], "steps": [tag] }, { "reply": ["sì"], "steps": [tag] } ]))]),
            ),
            422,
            "duplicate_reply",
        ),
        post_automation("flows nested 9 deep", automation("a13", deep), 422, "too_deep"),
        put_template("an empty body", json!({ "status": "approved", "body": "" }), "invalid_value"),
        put_template(
            "four quick replies",
            json!({ "status": "approved", "body": "x", "buttons": ["a", "b", "c", "d"] }),
            "invalid_buttons",
        ),
        put_template(
            "a text header without text",
            json!({ "status": "approved", "body": "x", "header": { "format": "text" } }),
            "missing_field",
        ),
        ("a malformed phone", "GET", "/v1/contacts/{phone}", "/v1/contacts/0".into(), a, None, 422, "invalid_value"),
        (
            "a malformed account id",
            "PUT",
            "/v1/workspace",
            "/v1/workspace".into(),
            a,
            Some(json!({ "timezone": "Europe/Rome", "whatsapp": { "phone_number_id": NUMBER_A, "waba_id": "" } })),
            422,
            "invalid_value",
        ),
    ];
    let mut answered = BTreeSet::new();
    for (what, method, template, path, key, body, status, code) in cases {
        let op = operation(&doc, method, template);
        let reply = system.call(method, &path, key, body).await;
        assert_documented(&doc, &op, &reply);
        assert_eq!(reply.0, status, "{what}: {method} {path}: {}", reply.1);
        if !code.is_empty() {
            assert_eq!(reply.1["error"]["code"], code, "{what}: {method} {path}: {}", reply.1);
            answered.insert(code.to_string());
        }
    }
    let (status, body) =
        raw_documented(&system, &doc, "POST", "/v1/automations", "/v1/automations", b"{".to_vec()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
    let large = vec![b' '; (1 << 20) + 1];
    let (status, body) = raw_documented(&system, &doc, "POST", "/v1/automations", "/v1/automations", large).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("payload_too_large")), "{body}");
    answered.extend(["bad_request".to_string(), "payload_too_large".to_string()]);
    // Off the document's paths and methods: the `Error` shape still.
    for (method, path, status, code) in
        [("GET", "/v1/nothing", 404, "no_route"), ("PATCH", "/v1/workspace", 405, "method_not_allowed")]
    {
        let (got, body) = system.call(method, path, Some(KEY_A), None).await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{method} {path}: {body}");
        conforms(&doc, &error, &body, "body").unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        answered.insert(code.to_string());
    }

    // Answered elsewhere: a store failure (503), a simulator bug (500), a slow simulation (simulate.rs).
    let elsewhere: BTreeSet<String> =
        ["unavailable", "simulation_failed", "simulation_too_long"].map(str::to_string).into();
    let documented = documented_error_codes(&doc);
    let unanswered: Vec<_> = documented.difference(&answered).filter(|c| !elsewhere.contains(*c)).collect();
    assert!(unanswered.is_empty(), "documented codes no request here answered: {unanswered:?}");
    let undocumented: Vec<_> = answered.difference(&documented).collect();
    assert!(undocumented.is_empty(), "answered codes the Error schema does not name: {undocumented:?}");
}

#[tokio::test]
async fn templates_synced_from_meta_read_back_in_the_documented_shape_and_one_without_a_body_is_left_out() {
    let fixture = |name: &str| -> Value {
        let path = avvio_tests::fixtures().join("meta").join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let mut last = fixture("message_templates_page2.json");
    let data = last["data"].as_array_mut().unwrap();
    data.push(json!({ "name": "solo_bottoni", "language": "it", "status": "APPROVED", "category": "UTILITY",
        "components": [ { "type": "BUTTONS", "buttons": [ { "type": "QUICK_REPLY", "text": "Sì" } ] } ] }));
    data.push(json!({ "name": "corpo_vuoto", "language": "it", "status": "APPROVED",
        "components": [ { "type": "BODY", "text": "" } ] }));
    let graph = avvio_tests::graph::StandInGraph::start()
        .await
        .with_templates(vec![fixture("message_templates_page1.json"), last]);
    let system = support::start_with_graph(&graph.base).await;
    let doc = document();
    let workspace = json!({ "timezone": "Europe/Rome",
        "whatsapp": { "phone_number_id": NUMBER_A, "waba_id": "102290129340398", "access_token": "EAAG" } });
    call_documented(&system, &doc, "PUT", "/v1/workspace", &[], Some(workspace)).await;

    let (status, sync) = call_documented(&system, &doc, "POST", "/v1/templates/sync", &[], None).await;
    assert_eq!(status, 200, "{sync}");
    let notes = sync["notes"].to_string();
    for name in ["solo_bottoni/it: no body text", "corpo_vuoto/it: no body text"] {
        assert!(notes.contains(name), "{name} is noted: {notes}");
    }
    let (_, list) = call_documented(&system, &doc, "GET", "/v1/templates", &[], None).await;
    let names: Vec<&str> = list["templates"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(!names.contains(&"solo_bottoni") && !names.contains(&"corpo_vuoto"), "{names:?}");
    assert_eq!(names.len(), 7, "{names:?}");
}

#[tokio::test]
async fn flow_runs_and_consent_changes_read_back_in_the_documented_shapes() {
    let mut system = start().await;
    let doc = document();
    system.put("/v1/templates/promemoria/it", KEY_A, promemoria()).await;
    let trigger = json!({ "type": "customer_message", "phrase": "Il mio appuntamento" });
    let automations = [
        appointment_flow("conferma", trigger),
        json!({ "id": "smista", "name": "smista", "trigger": { "type": "customer_message", "phrase": "Assistenza" },
            "steps": [ { "after": "0s", "action": { "type": "condition",
                "branches": [ { "if": { "all": [ { "has_tag": "vip" }, { "not": { "marketing": "opted_out" } } ] },
                                "steps": [ { "after": "0s", "action": { "type": "assign_operator", "operator": "anna@negozio.it" } } ] } ],
                "otherwise": [
                    { "after": "0s", "action": { "type": "start_automation", "automation": "figlio" } },
                    { "after": "0s", "action": { "type": "set_consent", "marketing": "opted_out" } },
                    { "after": "0s", "action": { "type": "wait_until", "time": "03:00", "days": ["sun"] } },
                    { "after": "0s", "action": { "type": "add_tag", "tag": "richiamare" } } ] } } ] }),
        json!({ "id": "figlio", "name": "figlio", "trigger": { "type": "integration" },
            "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "figlio" } } ] }),
        json!({ "id": "disiscritto", "name": "disiscritto", "trigger": { "type": "consent", "marketing": "opted_out" },
            "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "disiscritto" } } ] }),
    ];
    for automation in automations {
        let reply = call_documented(&system, &doc, "POST", "/v1/automations", &[], Some(automation)).await;
        assert_eq!(reply.0, 201, "{}", reply.1);
    }

    // A wait, a condition that starts an automation and opts the contact out, and the API's opt-out.
    system.webhook(text_webhook(NUMBER_A, "393331111111", "wamid.o1", "Il mio appuntamento")).await;
    system.webhook(text_webhook(NUMBER_A, "393332222222", "wamid.o2", "assistenza")).await;
    let patch = Some(json!({ "marketing": "opted_out" }));
    let reply =
        call_documented(&system, &doc, "PUT", "/v1/contacts/{phone}", &[("phone", "393333333333")], patch).await;
    assert_eq!((reply.0, &reply.1["marketing"]), (201, &json!("opted_out")), "{}", reply.1);
    system.settle().await;
    let runs = documented_runs(&system, &doc).await;
    let causes: BTreeSet<String> = runs.iter().map(|r| r["cause"].to_string()).collect();
    let smista = runs.iter().find(|r| r["automation"] == "smista").unwrap()["id"].clone();
    let expected: BTreeSet<String> = [
        json!({ "type": "message", "wamid": "wamid.o1" }),
        json!({ "type": "message", "wamid": "wamid.o2" }),
        json!({ "type": "started", "by_run": smista }),
        json!({ "type": "consent", "by_run": smista }),
        json!({ "type": "consent", "by_run": null }),
    ]
    .iter()
    .map(Value::to_string)
    .collect();
    assert_eq!(causes, expected);
    let records: Vec<&Value> = runs.iter().flat_map(|r| r["steps"].as_array().unwrap()).collect();
    let waiting = records.iter().find(|s| s["status"] == "waiting").expect("the wait is recorded");
    assert_eq!((&waiting["step"], waiting["until"].is_string()), (&json!("steps[1]"), true));
    let held = records.iter().find(|s| s["action"] == "wait_until").expect("the wait_until is recorded");
    assert_eq!(held["step"], "steps[0].action.otherwise[2]");
    assert!(held["until"].is_string(), "{held}");
    let condition = records.iter().find(|s| s["action"] == "condition").unwrap();
    assert_eq!(condition["branch"], "otherwise");

    // The reply matches no branch: `otherwise` takes it.
    system.webhook(text_webhook(NUMBER_A, "393331111111", "wamid.o3", "non so")).await;
    system.settle().await;
    let runs = documented_runs(&system, &doc).await;
    let flow = runs.iter().find(|r| r["automation"] == "conferma").unwrap();
    let steps: Vec<(&Value, &Value)> =
        flow["steps"].as_array().unwrap().iter().map(|s| (&s["step"], &s["status"])).collect();
    assert_eq!(
        steps,
        [
            (&json!("steps[0]"), &json!("done")),
            (&json!("steps[1]"), &json!("done")),
            (&json!("steps[1].action.otherwise[0]"), &json!("done"))
        ]
    );
    assert_eq!(flow["steps"][1]["branch"], "otherwise");
    // Its stats count the branch taken, by the names runs record (patterns are read back).
    let path = "/v1/automations/{id}/stats";
    let stats = system.call("GET", "/v1/automations/conferma/stats", Some(KEY_A), None).await;
    assert_documented(&doc, &operation(&doc, "GET", path), &stats);
    assert_eq!(stats.1["steps"]["steps[1]"]["branches"], json!({ "otherwise": 1 }), "{}", stats.1);
    for (step, counts) in stats.1["steps"].as_object().unwrap() {
        assert_eq!(step.parse::<StepPath>().map(|p| p.to_string()).as_deref(), Ok(step.as_str()));
        for branch in counts["branches"].as_object().unwrap().keys() {
            assert_eq!(branch.parse::<Branch>().map(|b| b.to_string()).as_deref(), Ok(branch.as_str()));
        }
    }

    // Contacts show their consent; the workspace its consent phrases.
    let reply = system.call("GET", "/v1/contacts", Some(KEY_A), None).await;
    assert_documented(&doc, &operation(&doc, "GET", "/v1/contacts"), &reply);
    let consents: Vec<&Value> = reply.1["items"].as_array().unwrap().iter().map(|c| &c["marketing"]).collect();
    assert_eq!(consents, [&json!("unknown"), &json!("opted_out"), &json!("opted_out")]);
    let reply = call_documented(&system, &doc, "GET", "/v1/workspace", &[], None).await;
    assert_eq!(reply.1["consent"], json!({ "opt_out_phrases": ["STOP"], "opt_in_phrases": ["START"] }));
    let reply = call_documented(&system, &doc, "GET", "/v1/templates", &[], None).await;
    let categories: Vec<&Value> = reply.1["templates"].as_array().unwrap().iter().map(|t| &t["category"]).collect();
    assert_eq!(categories, [&json!("marketing"), &json!("utility")]);
}

/// Every run of workspace `a`, each read as `GET /v1/runs` and `GET /v1/runs/{id}` show it,
/// both checked against the document; step paths and branches (whose patterns [`conforms`]
/// does not check) are checked by reading them back.
async fn documented_runs(system: &System, doc: &Value) -> Vec<Value> {
    let reply = system.call("GET", "/v1/runs", Some(KEY_A), None).await;
    assert_documented(doc, &operation(doc, "GET", "/v1/runs"), &reply);
    let mut runs = Vec::new();
    for run in reply.1["items"].as_array().unwrap() {
        let id = run["id"].as_str().unwrap();
        let (status, one) = call_documented(system, doc, "GET", "/v1/runs/{id}", &[("id", id)], None).await;
        assert_eq!((status, &one), (200, run));
        for record in one["steps"].as_array().unwrap() {
            let step = record["step"].as_str().unwrap();
            assert_eq!(step.parse::<StepPath>().map(|p| p.to_string()).as_deref(), Ok(step), "{record}");
            if let Some(branch) = record.get("branch").and_then(Value::as_str) {
                assert_eq!(branch.parse::<Branch>().map(|b| b.to_string()).as_deref(), Ok(branch), "{record}");
            }
        }
        runs.push(one);
    }
    runs
}

#[tokio::test]
async fn the_documented_422_examples_are_what_a_broken_flow_is_answered() {
    let system = start().await;
    let doc = document();
    let examples = &doc["components"]["responses"]["Invalid"]["content"]["application/json"]["examples"];
    let flow = || appointment_flow("conferma", json!({ "type": "integration" }));

    let mut deep = flow();
    let tag = json!({ "after": "0s", "action": { "type": "add_tag", "tag": "confermato" } });
    let blank = json!({ "after": "0s", "action": { "type": "send_text", "text": " " } });
    deep["steps"][1]["action"]["branches"][0]["steps"] = json!([tag, tag, blank]);
    let mut unreachable = flow();
    unreachable["steps"].as_array_mut().unwrap().push(tag);

    for (name, body) in [("deep_in_a_branch", deep), ("unreachable_step", unreachable)] {
        let reply = call_documented(&system, &doc, "POST", "/v1/automations", &[], Some(body)).await;
        assert_eq!((reply.0, &reply.1), (422, &examples[name]["value"]), "{name}");
    }
}

#[tokio::test]
async fn each_listings_cursor_example_reads_the_page_after_it() {
    let system = start().await;
    let doc = document();
    for path in ["/v1/contacts", "/v1/runs", "/v1/automations"] {
        let op = operation(&doc, "GET", path);
        let cursor = op.parameters.iter().find(|p| p["name"] == "cursor").expect("a documented cursor");
        let example = cursor["example"].as_str().unwrap();
        let reply = system.call("GET", &format!("{path}?cursor={example}"), Some(KEY_A), None).await;
        assert_eq!(reply.0, 200, "{path}: {}", reply.1);
        assert_documented(&doc, &op, &reply);
    }
}
