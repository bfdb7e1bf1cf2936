//! `GET /openapi.json`: the OpenAPI 3.1 document of every route the server answers.
//!
//! Vertex paths end in custom verbs (`endpoints/{endpoint}:explain`) and are dispatched by
//! hand (see `routes.rs`), so the document is built from the table below with utoipa's
//! builders rather than from handler annotations. The end-to-end test calls every operation
//! listed here on a live server and checks the router knows it, so the table cannot drift
//! from the router unnoticed. Body schemas name the fields Prism reads and writes; the
//! explanation types themselves follow `ExplanationSpec` of the Vertex reference.

use std::sync::OnceLock;

use serde_json::{json, Value};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, Ref, RefOr, Required, ResponseBuilder, Schema, Tag,
};

/// The Vertex location prefix every Vertex resource lives under.
const LOC: &str = "/v1/projects/{project}/locations/{location}";

/// One documented operation.
struct Route {
    method: HttpMethod,
    path: String,
    id: String,
    tag: &'static str,
    summary: String,
    /// Component schema of the JSON request body, if the operation takes one.
    request: Option<&'static str>,
    /// Component schema of the 200 response (`None`: plain text).
    response: Option<&'static str>,
    /// Query parameters.
    query: &'static [&'static str],
    /// Open without a bearer token.
    open: bool,
}

#[allow(clippy::too_many_arguments)]
fn route(
    method: HttpMethod,
    path: impl Into<String>,
    id: impl Into<String>,
    tag: &'static str,
    summary: impl Into<String>,
    request: Option<&'static str>,
    response: Option<&'static str>,
    query: &'static [&'static str],
) -> Route {
    Route {
        method,
        path: path.into(),
        id: id.into(),
        tag,
        summary: summary.into(),
        request,
        response,
        query,
        open: false,
    }
}

const LIST: &[&str] = &["pageSize", "pageToken", "filter"];
const LIST_ORDERED: &[&str] = &["pageSize", "pageToken", "filter", "orderBy"];

fn routes() -> Vec<Route> {
    use HttpMethod::{Delete, Get, Patch, Post};
    let v = "vertex";
    let mut r = vec![
        route(Post, format!("{LOC}/models:upload"), "models.upload", v,
            "Upload a model: copy its artifacts, validate model and explanationSpec, build the example index (an operation).",
            Some("UploadModelRequest"), Some("Operation"), &[]),
        route(Get, format!("{LOC}/models"), "models.list", v,
            "List models (filter: display_name, labels.<key>; orderBy: display_name, create_time, update_time [desc]).",
            None, Some("ListModelsResponse"), LIST_ORDERED),
        route(Get, format!("{LOC}/models/{{model}}"), "models.get", v, "Get a model.", None, Some("Model"), &[]),
        route(Patch, format!("{LOC}/models/{{model}}"), "models.patch", v,
            "Change a model's displayName, description or labels (the fields updateMask names).",
            Some("Model"), Some("Model"), &["updateMask"]),
        route(Get, format!("{LOC}/models/{{model}}:listVersions"), "models.listVersions", v,
            "List a model's versions (a Prism model has one).", None, Some("ListModelsResponse"), &["pageSize", "pageToken"]),
        route(Delete, format!("{LOC}/models/{{model}}"), "models.delete", v,
            "Delete a model (refused while deployed or used by a running batch job).", None, Some("Operation"), &[]),
        route(Post, format!("{LOC}/models/{{model}}:updateExplanationDataset"), "models.updateExplanationDataset", v,
            "Add examples to an example-based model's index without re-indexing (an operation).",
            Some("UpdateExplanationDatasetRequest"), Some("Operation"), &[]),
        route(Post, format!("{LOC}/endpoints"), "endpoints.create", v, "Create an endpoint (an operation).",
            Some("Endpoint"), Some("Operation"), &["endpointId"]),
        route(Get, format!("{LOC}/endpoints"), "endpoints.list", v,
            "List endpoints (filter as models; orderBy: display_name, create_time, update_time [desc]).",
            None, Some("ListEndpointsResponse"), LIST_ORDERED),
        route(Get, format!("{LOC}/endpoints/{{endpoint}}"), "endpoints.get", v, "Get an endpoint.", None, Some("Endpoint"), &[]),
        route(Patch, format!("{LOC}/endpoints/{{endpoint}}"), "endpoints.patch", v,
            "Change an endpoint's displayName, description, labels or trafficSplit (the fields updateMask names).",
            Some("Endpoint"), Some("Endpoint"), &["updateMask"]),
        route(Delete, format!("{LOC}/endpoints/{{endpoint}}"), "endpoints.delete", v,
            "Delete an endpoint (refused while models are deployed).", None, Some("Operation"), &[]),
        route(Post, format!("{LOC}/endpoints/{{endpoint}}:deployModel"), "endpoints.deployModel", v,
            "Deploy a model with a traffic split (an operation).", Some("DeployModelRequest"), Some("Operation"), &[]),
        route(Post, format!("{LOC}/endpoints/{{endpoint}}:undeployModel"), "endpoints.undeployModel", v,
            "Undeploy a model (an operation).", Some("UndeployModelRequest"), Some("Operation"), &[]),
        route(Post, format!("{LOC}/endpoints/{{endpoint}}:predict"), "endpoints.predict", v,
            "Predictions for instances.", Some("PredictRequest"), Some("PredictResponse"), &[]),
        route(Post, format!("{LOC}/endpoints/{{endpoint}}:explain"), "endpoints.explain", v,
            "Predictions with their explanations (attributions or neighbours).",
            Some("ExplainRequest"), Some("ExplainResponse"), &[]),
        route(Post, format!("{LOC}/endpoints/{{endpoint}}:rawPredict"), "endpoints.rawPredict", v,
            "The model's answer without the Vertex envelope; the serving deployment is named in X-Vertex-AI-* headers.",
            Some("PredictRequest"), Some("RawPredictResponse"), &[]),
        route(Post, format!("{LOC}/batchPredictionJobs"), "batchPredictionJobs.create", v,
            "Create a batch prediction job; it runs in the background.",
            Some("BatchPredictionJob"), Some("BatchPredictionJob"), &[]),
        route(Get, format!("{LOC}/batchPredictionJobs"), "batchPredictionJobs.list", v,
            "List batch prediction jobs (filter: display_name, labels.<key>, state, model).",
            None, Some("ListBatchPredictionJobsResponse"), LIST),
        route(Get, format!("{LOC}/batchPredictionJobs/{{job}}"), "batchPredictionJobs.get", v,
            "Get a batch prediction job with its state and completion stats.", None, Some("BatchPredictionJob"), &[]),
        route(Post, format!("{LOC}/batchPredictionJobs/{{job}}:cancel"), "batchPredictionJobs.cancel", v,
            "Cancel a job: it finishes the batch in progress and ends CANCELLED.", None, Some("Empty"), &[]),
        route(Delete, format!("{LOC}/batchPredictionJobs/{{job}}"), "batchPredictionJobs.delete", v,
            "Delete a job that has ended (its output files stay).", None, Some("Operation"), &[]),
    ];
    // Operations live under the location and under the resource they act on.
    for (parent, id_prefix) in [
        (LOC.to_string(), "operations"),
        (format!("{LOC}/models/{{model}}"), "models.operations"),
        (
            format!("{LOC}/endpoints/{{endpoint}}"),
            "endpoints.operations",
        ),
    ] {
        let op = format!("{parent}/operations/{{operation}}");
        r.extend([
            route(
                Get,
                format!("{parent}/operations"),
                format!("{id_prefix}.list"),
                v,
                "List operations.",
                None,
                Some("ListOperationsResponse"),
                LIST,
            ),
            route(
                Get,
                op.clone(),
                format!("{id_prefix}.get"),
                v,
                "Get an operation.",
                None,
                Some("Operation"),
                &[],
            ),
            route(
                Post,
                format!("{op}:wait"),
                format!("{id_prefix}.wait"),
                v,
                "Wait until the operation is done or the timeout passes (long poll).",
                Some("WaitOperationRequest"),
                Some("Operation"),
                &[],
            ),
            route(
                Post,
                format!("{op}:cancel"),
                format!("{id_prefix}.cancel"),
                v,
                "Cancel an operation.",
                None,
                Some("Empty"),
                &[],
            ),
            route(
                Delete,
                op,
                format!("{id_prefix}.delete"),
                v,
                "Delete an operation's record.",
                None,
                Some("Empty"),
                &[],
            ),
        ]);
    }
    let k = "kserve-v1";
    r.extend([
        route(
            Get,
            "/v1/models",
            "kserve.list",
            k,
            "Names of the deployed models.",
            None,
            Some("KServeModelList"),
            &[],
        ),
        route(
            Get,
            "/v1/models/{name}",
            "kserve.get",
            k,
            "Whether a model is ready.",
            None,
            Some("KServeModelStatus"),
            &[],
        ),
        route(
            Post,
            "/v1/models/{name}:predict",
            "kserve.predict",
            k,
            "KServe v1 predict.",
            Some("PredictRequest"),
            Some("KServePredictResponse"),
            &[],
        ),
        route(
            Post,
            "/v1/models/{name}:explain",
            "kserve.explain",
            k,
            "KServe v1 explain.",
            Some("PredictRequest"),
            Some("KServeExplainResponse"),
            &[],
        ),
    ]);
    let o = "open-inference-v2";
    let mut health = [
        route(
            Get,
            "/v2/health/live",
            "oip.live",
            o,
            "Liveness.",
            None,
            Some("OipLive"),
            &[],
        ),
        route(
            Get,
            "/v2/health/ready",
            "oip.ready",
            o,
            "Readiness.",
            None,
            Some("OipReady"),
            &[],
        ),
        route(
            Get,
            "/healthz",
            "healthz",
            "operations",
            "Liveness (no token needed).",
            None,
            Some("Health"),
            &[],
        ),
    ];
    for h in &mut health {
        h.open = true;
    }
    r.extend(health);
    r.extend([
        route(
            Get,
            "/v2",
            "oip.server",
            o,
            "Server metadata.",
            None,
            Some("OipServerMetadata"),
            &[],
        ),
        route(
            Get,
            "/v2/models/{name}",
            "oip.model",
            o,
            "Model metadata (`{name}-explainer` names the explainer of a model).",
            None,
            Some("OipModelMetadata"),
            &[],
        ),
        route(
            Get,
            "/v2/models/{name}/ready",
            "oip.modelReady",
            o,
            "Whether a model is ready.",
            None,
            Some("OipModelReady"),
            &[],
        ),
        route(
            Post,
            "/v2/models/{name}/infer",
            "oip.infer",
            o,
            "Inference; on `{name}-explainer` the output `explanation` holds the explanation JSON.",
            Some("OipInferRequest"),
            Some("OipInferResponse"),
            &[],
        ),
        route(
            Post,
            "/v2/models/{name}/versions/{version}/infer",
            "oip.inferVersion",
            o,
            "Inference on a version (Prism serves one version per name).",
            Some("OipInferRequest"),
            Some("OipInferResponse"),
            &[],
        ),
        route(
            Get,
            "/metrics",
            "metrics",
            "operations",
            "Prometheus metrics: requests, latency histograms, model evaluations.",
            None,
            None,
            &[],
        ),
        route(
            Get,
            "/openapi.json",
            "openapi",
            "operations",
            "This document.",
            None,
            Some("Any"),
            &[],
        ),
    ]);
    r
}

/// The component schemas, as JSON Schema.
fn schemas() -> Vec<(&'static str, Value)> {
    let r = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let any = r("Any");
    let string = json!({"type": "string"});
    let int64 =
        json!({"type": "string", "format": "int64", "description": "int64 as a decimal string"});
    let object = json!({"type": "object"});
    let labels = json!({"type": "object", "additionalProperties": {"type": "string"}});
    let time = json!({"type": "string", "format": "date-time"});
    let list_of = |plural: &str, item: &str| {
        json!({"type": "object", "properties": {
            plural: {"type": "array", "items": r(item)},
            "nextPageToken": string,
        }})
    };
    vec![
        (
            "Empty",
            json!({"type": "object", "additionalProperties": false}),
        ),
        (
            "Status",
            json!({"type": "object", "description": "google.rpc.Status",
            "properties": {"code": {"type": "integer"}, "message": string, "details": {"type": "array", "items": object}}}),
        ),
        (
            "ErrorResponse",
            json!({"type": "object", "properties": {"error": {
            "type": "object", "properties": {"code": {"type": "integer"}, "message": string, "status": string}}}}),
        ),
        (
            "Operation",
            json!({"type": "object", "description": "google.longrunning.Operation: `done` is absent while it runs; once done, exactly one of `error` and `response` is set.",
            "required": ["name"],
            "properties": {"name": string, "metadata": object, "done": {"type": "boolean"},
                "error": r("Status"), "response": object}}),
        ),
        ("ListOperationsResponse", list_of("operations", "Operation")),
        (
            "WaitOperationRequest",
            json!({"type": "object", "properties": {"timeout": {"type": "string", "description": "a duration such as \"30s\""}}}),
        ),
        (
            "ExplanationSpec",
            json!({"type": "object", "properties": {
            "parameters": r("ExplanationParameters"), "metadata": r("ExplanationMetadata")}}),
        ),
        (
            "ExplanationParameters",
            json!({"type": "object", "description": "one of the methods, with topK or outputIndices",
            "properties": {
                "sampledShapleyAttribution": {"type": "object", "properties": {"pathCount": {"type": "integer", "minimum": 1, "maximum": 50}}},
                "integratedGradientsAttribution": r("GradientParameters"),
                "xraiAttribution": r("GradientParameters"),
                "examples": object,
                "topK": {"type": "integer"},
                "outputIndices": {"type": "array"}}}),
        ),
        (
            "GradientParameters",
            json!({"type": "object", "properties": {
            "stepCount": {"type": "integer", "minimum": 1, "maximum": 100},
            "smoothGradConfig": object, "blurBaselineConfig": object}}),
        ),
        (
            "ExplanationMetadata",
            json!({"type": "object", "properties": {
            "inputs": {"type": "object", "additionalProperties": object},
            "outputs": {"type": "object", "additionalProperties": object},
            "featureAttributionsSchemaUri": string, "latentSpaceSource": string}}),
        ),
        (
            "Model",
            json!({"type": "object", "properties": {
            "name": string, "displayName": string, "description": string,
            "artifactUri": string, "explanationSpec": r("ExplanationSpec"),
            "deployedModels": {"type": "array", "items": {"type": "object", "properties": {"endpoint": string, "deployedModelId": string}}},
            "labels": labels, "createTime": time, "updateTime": time, "versionId": string}}),
        ),
        (
            "UploadModelRequest",
            json!({"type": "object", "required": ["model"], "properties": {
            "model": r("Model"), "modelId": string, "parentModel": string}}),
        ),
        ("ListModelsResponse", list_of("models", "Model")),
        (
            "UpdateExplanationDatasetRequest",
            json!({"type": "object", "properties": {"examples": object}}),
        ),
        (
            "DeployedModel",
            json!({"type": "object", "properties": {
            "id": string, "model": string, "displayName": string,
            "explanationSpec": r("ExplanationSpec"), "createTime": time}}),
        ),
        (
            "Endpoint",
            json!({"type": "object", "properties": {
            "name": string, "displayName": string, "description": string,
            "deployedModels": {"type": "array", "items": r("DeployedModel")},
            "trafficSplit": {"type": "object", "additionalProperties": {"type": "integer"}},
            "labels": labels, "createTime": time, "updateTime": time}}),
        ),
        ("ListEndpointsResponse", list_of("endpoints", "Endpoint")),
        (
            "DeployModelRequest",
            json!({"type": "object", "required": ["deployedModel"], "properties": {
            "deployedModel": r("DeployedModel"),
            "trafficSplit": {"type": "object", "additionalProperties": {"type": "integer"}}}}),
        ),
        (
            "UndeployModelRequest",
            json!({"type": "object", "required": ["deployedModelId"], "properties": {
            "deployedModelId": string,
            "trafficSplit": {"type": "object", "additionalProperties": {"type": "integer"}}}}),
        ),
        (
            "PredictRequest",
            json!({"type": "object", "required": ["instances"], "properties": {
            "instances": {"type": "array", "items": any}, "parameters": any}}),
        ),
        (
            "PredictResponse",
            json!({"type": "object", "properties": {
            "predictions": {"type": "array", "items": any}, "deployedModelId": string,
            "model": string, "modelDisplayName": string, "modelVersionId": string}}),
        ),
        (
            "RawPredictResponse",
            json!({"type": "object", "properties": {"predictions": {"type": "array", "items": any}}}),
        ),
        (
            "ExplainRequest",
            json!({"type": "object", "required": ["instances"], "properties": {
            "instances": {"type": "array", "items": any}, "parameters": any,
            "explanationSpecOverride": {"type": "object", "properties": {
                "parameters": r("ExplanationParameters"), "metadata": object, "examplesOverride": object}},
            "deployedModelId": string}}),
        ),
        (
            "Attribution",
            json!({"type": "object", "properties": {
            "baselineOutputValue": {"type": "number"}, "instanceOutputValue": {"type": "number"},
            "featureAttributions": {"type": "object", "description": "by feature name, each shaped like its input"},
            "outputIndex": {"type": "array", "items": {"type": "integer"}},
            "outputDisplayName": string, "approximationError": {"type": "number"}, "outputName": string}}),
        ),
        (
            "Explanation",
            json!({"type": "object", "properties": {
            "attributions": {"type": "array", "items": r("Attribution")},
            "neighbors": {"type": "array", "items": {"type": "object", "properties": {
                "neighborId": string, "neighborDistance": {"type": "number"}}}}}}),
        ),
        (
            "ExplainResponse",
            json!({"type": "object", "properties": {
            "explanations": {"type": "array", "items": r("Explanation")},
            "deployedModelId": string, "predictions": {"type": "array", "items": any}}}),
        ),
        (
            "BatchPredictionJob",
            json!({"type": "object", "properties": {
            "name": string, "displayName": string, "model": string,
            "inputConfig": {"type": "object", "properties": {"instancesFormat": string,
                "gcsSource": {"type": "object", "properties": {"uris": {"type": "array", "items": string}}}}},
            "instanceConfig": {"type": "object", "properties": {"instanceType": string, "keyField": string,
                "includedFields": {"type": "array", "items": string}, "excludedFields": {"type": "array", "items": string}}},
            "outputConfig": {"type": "object", "properties": {"predictionsFormat": string,
                "gcsDestination": {"type": "object", "properties": {"outputUriPrefix": string}}}},
            "manualBatchTuningParameters": {"type": "object", "properties": {"batchSize": {"type": "integer"}}},
            "generateExplanation": {"type": "boolean"}, "explanationSpec": r("ExplanationSpec"),
            "labels": labels,
            "state": {"type": "string", "enum": ["JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING",
                "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"]},
            "error": r("Status"), "partialFailures": {"type": "array", "items": r("Status")},
            "outputInfo": {"type": "object", "properties": {"gcsOutputDirectory": string}},
            "completionStats": {"type": "object", "properties": {
                "successfulCount": int64, "failedCount": int64, "incompleteCount": int64}},
            "createTime": time, "startTime": time, "endTime": time, "updateTime": time}}),
        ),
        (
            "ListBatchPredictionJobsResponse",
            list_of("batchPredictionJobs", "BatchPredictionJob"),
        ),
        (
            "KServeModelList",
            json!({"type": "object", "properties": {"models": {"type": "array", "items": string}}}),
        ),
        (
            "KServeModelStatus",
            json!({"type": "object", "properties": {"name": string, "ready": {"type": "boolean"}}}),
        ),
        (
            "KServePredictResponse",
            json!({"type": "object", "properties": {"predictions": {"type": "array", "items": any}}}),
        ),
        (
            "KServeExplainResponse",
            json!({"type": "object", "properties": {"explanations": {"type": "array", "items": r("Explanation")}}}),
        ),
        (
            "OipLive",
            json!({"type": "object", "properties": {"live": {"type": "boolean"}}}),
        ),
        (
            "OipReady",
            json!({"type": "object", "properties": {"ready": {"type": "boolean"}}}),
        ),
        (
            "OipModelReady",
            json!({"type": "object", "properties": {"name": string, "ready": {"type": "boolean"}}}),
        ),
        (
            "Health",
            json!({"type": "object", "properties": {"status": string}}),
        ),
        (
            "OipServerMetadata",
            json!({"type": "object", "properties": {
            "name": string, "version": string, "extensions": {"type": "array", "items": string}}}),
        ),
        (
            "OipTensorMetadata",
            json!({"type": "object", "properties": {
            "name": string, "datatype": string, "shape": {"type": "array", "items": {"type": "integer"}}}}),
        ),
        (
            "OipModelMetadata",
            json!({"type": "object", "properties": {
            "name": string, "versions": {"type": "array", "items": string}, "platform": string,
            "inputs": {"type": "array", "items": r("OipTensorMetadata")},
            "outputs": {"type": "array", "items": r("OipTensorMetadata")}}}),
        ),
        (
            "OipTensor",
            json!({"type": "object", "required": ["name", "datatype", "shape", "data"], "properties": {
            "name": string, "datatype": string, "shape": {"type": "array", "items": {"type": "integer"}},
            "data": {"type": "array"}, "parameters": object}}),
        ),
        (
            "OipInferRequest",
            json!({"type": "object", "required": ["inputs"], "properties": {
            "id": string, "inputs": {"type": "array", "items": r("OipTensor")},
            "outputs": {"type": "array", "items": object}, "parameters": object}}),
        ),
        (
            "OipInferResponse",
            json!({"type": "object", "properties": {
            "model_name": string, "model_version": string, "id": string,
            "outputs": {"type": "array", "items": r("OipTensor")}}}),
        ),
    ]
}

fn json_content(schema: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema)))
        .build()
}

fn build() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in routes() {
        let mut op = OperationBuilder::new()
            .operation_id(Some(route.id))
            .tag(route.tag)
            .summary(Some(route.summary));
        for name in path_parameters(&route.path) {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(Ref::from_schema_name("String"))),
            );
        }
        for name in route.query {
            op = op.parameter(query_parameter(name));
        }
        if let Some(request) = route.request {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content("application/json", json_content(request))
                    .build(),
            ));
        }
        let ok = match route.response {
            Some(schema) => ResponseBuilder::new()
                .description("OK")
                .content("application/json", json_content(schema)),
            None => ResponseBuilder::new()
                .description("OK")
                .content("text/plain", ContentBuilder::new().build()),
        };
        op = op.response("200", ok).response(
            "default",
            ResponseBuilder::new()
                .description("An error (google.rpc shape on Vertex routes)")
                .content("application/json", json_content("ErrorResponse")),
        );
        if route.open {
            op = op.securities(Some(Vec::<SecurityRequirement>::new()));
        }
        paths = paths.path(route.path, PathItem::new(route.method, op));
    }
    let mut components = ComponentsBuilder::new().security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components = components
        .schema("String", schema(json!({"type": "string"})))
        .schema(
            "Any",
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some("any JSON value")),
        );
    for (name, value) in schemas() {
        components = components.schema(name, schema(value));
    }
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Prism")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Vertex AI REST v1 (models, endpoints, predict, explain, batch prediction jobs, \
                     operations), KServe v1 and Open Inference Protocol v2, served by Prism. \
                     With bearer tokens configured, every route but the health probes needs \
                     `Authorization: Bearer <token>`.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .security(Some([SecurityRequirement::new("bearer", Vec::<String>::new())]))
        .build();
    doc.tags = Some(
        ["vertex", "kserve-v1", "open-inference-v2", "operations"]
            .into_iter()
            .map(Tag::new)
            .collect(),
    );
    doc
}

fn schema(value: Value) -> RefOr<Schema> {
    // The literals above are JSON Schema the utoipa types read; a mistake in them is a
    // programming error caught by the end-to-end test that fetches the document.
    serde_json::from_value(value).expect("a valid schema literal")
}

fn query_parameter(name: &str) -> Parameter {
    let kind = if name == "pageSize" {
        "integer"
    } else {
        "string"
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .schema(Some(schema(json!({ "type": kind }))))
        .build()
}

/// `{name}` segments of a path template, in order.
fn path_parameters(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

/// The document as JSON, built once.
pub(crate) fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(build()).expect("the OpenAPI document serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_names_a_schema_and_ids_are_unique() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for piece in text.split("\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "dangling $ref {name}");
        }
        let mut ids = std::collections::HashSet::new();
        for (_, item) in doc["paths"].as_object().unwrap() {
            for (_, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_string()), "operationId {id} twice");
            }
        }
        assert_eq!(ids.len(), routes().len());
        assert_eq!(doc["openapi"], "3.1.0");
    }

    #[test]
    fn path_parameters_are_declared() {
        let doc = document();
        let op = &doc["paths"]
            ["/v1/projects/{project}/locations/{location}/endpoints/{endpoint}:explain"]["post"];
        let names: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["project", "location", "endpoint"]);
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ExplainRequest"
        );
    }
}
