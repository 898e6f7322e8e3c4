/// The HTTP API as an OpenAPI 3.0 document, served at /api/v1/openapi.json. CI runs
/// schemathesis against a live daemon with it (scripts/check-api.sh): every response must
/// conform, none may be a 5xx. RoutesTests holds its paths and methods to HTTPAPI.routes.
enum OpenAPI {
    static let document = #"""
    {
      "openapi": "3.0.3",
      "info": {
        "title": "Linesight inspection daemon",
        "version": "1",
        "description": "The HTTP API of `linesight serve`. Loopback only unless http.token_file is set; beyond loopback every route needs the bearer token, and POST /api/v1/models/reload always does. Every error is JSON: {\"error\": text, \"parameter\": name (when one parameter is at fault)}. Times are Unix seconds (UTC)."
      },
      "servers": [{"url": "/"}],
      "security": [{}, {"bearer": []}],
      "paths": {
        "/healthz": {
          "get": {
            "summary": "The process answers.",
            "responses": {
              "200": {"description": "Alive.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"}
            }
          }
        },
        "/readyz": {
          "get": {
            "summary": "Verdicts are flowing and the store commits.",
            "responses": {
              "200": {"description": "Ready.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
              "503": {"description": "Not ready: a pipeline stalled or commits fail.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NotReady"}}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"}
            }
          }
        },
        "/metrics": {
          "get": {
            "summary": "Prometheus metrics (text exposition format 0.0.4).",
            "responses": {
              "200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"}
            }
          }
        },
        "/api/v1/openapi.json": {
          "get": {
            "summary": "This document.",
            "responses": {
              "200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {"type": "object"}}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"}
            }
          }
        },
        "/api/v1/verdicts": {
          "get": {
            "summary": "Verdicts, newest first, one page at a time.",
            "parameters": [
              {"$ref": "#/components/parameters/camera"},
              {"name": "decision", "in": "query", "schema": {"type": "string", "enum": ["pass", "fail", "no_verdict"]}},
              {"$ref": "#/components/parameters/since"},
              {"$ref": "#/components/parameters/until"},
              {"name": "flagged", "in": "query", "description": "Only flagged verdicts.", "schema": {"type": "boolean"}},
              {"name": "before", "in": "query", "description": "The previous page's next_before.", "schema": {"type": "integer", "format": "int64", "minimum": 1}},
              {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
            ],
            "responses": {
              "200": {
                "description": "A page of verdicts.",
                "content": {"application/json": {"schema": {
                  "type": "object", "required": ["items", "next_before"], "additionalProperties": false,
                  "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Verdict"}},
                    "next_before": {"type": "integer", "nullable": true}
                  }
                }}}
              },
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "404": {"$ref": "#/components/responses/NotFound"}
            }
          }
        },
        "/api/v1/stats": {
          "get": {
            "summary": "Totals from the hourly rollups for hours in [since, until), each camera's live counters, and on a line with stations the parts triggered in [since, until) (parts, passes, fails, no_verdicts, defects by view:kind, yield).",
            "parameters": [
              {"$ref": "#/components/parameters/camera"},
              {"$ref": "#/components/parameters/since"},
              {"$ref": "#/components/parameters/until"}
            ],
            "responses": {
              "200": {"description": "Statistics.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stats"}}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "404": {"$ref": "#/components/responses/NotFound"}
            }
          }
        },
        "/api/v1/frames/{file}": {
          "get": {
            "summary": "A kept frame as JPEG.",
            "parameters": [
              {"name": "file", "in": "path", "required": true, "description": "ID.jpg, ID a frame id.", "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,17}\\.jpg$"}}
            ],
            "responses": {
              "200": {"description": "The JPEG as the camera gave it (MJPEG) or as encoded when kept.", "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "404": {"$ref": "#/components/responses/NotFound"}
            }
          }
        },
        "/api/v1/frames/{file}/heatmap.png": {
          "get": {
            "summary": "Where the live models see the defect in a kept frame: the judged region (ROI, or the whole frame) as PNG with the model's class map laid over it (clear to red to yellow) and the hot spot boxed in cyan. Stage 1's map (defect against pass) unless kind names a stage-2 kind. Headers, in the frame's pixels: X-Defect-Map (what the map is of, and its cells), X-Defect-Box (x,y,width,height of the cells at half the peak or more around it) and X-Defect-Peak (x,y), the last two absent when no cell points to a defect.",
            "parameters": [
              {"name": "file", "in": "path", "required": true, "description": "A frame id (the ID of /api/v1/frames/ID.jpg).", "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}},
              {"name": "kind", "in": "query", "required": false, "description": "A defect kind the stage-2 model knows: its map instead of stage 1's (map=live only: frames keep stage 1's map alone, so with map=kept it is a 404); another kind is a 404 naming the known kinds.", "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"}},
              {"name": "map", "in": "query", "required": false, "description": "live (default): the models as they are now; kept: stage 1's map as it judged the frame, kept with failed frames when [flagging] keep_maps is on (404 when the frame has none).", "schema": {"type": "string", "enum": ["live", "kept"]}}
            ],
            "responses": {
              "200": {"description": "The overlay.", "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "404": {"$ref": "#/components/responses/NotFound"},
              "422": {"$ref": "#/components/responses/Error"},
              "503": {"$ref": "#/components/responses/Busy"}
            }
          }
        },
        "/api/v1/events": {
          "get": {
            "summary": "Server-sent events: a `verdict` event per judged frame (camera, sequence, decision, stage1_score, defects, flags, total_ms, part), a `part` event per decided part (part, station, serial, decision, defects, views, frames, decided_ms, error), and with the operator screen on, a `status` event a second (as GET /api/v1/operator/status); data one JSON object.",
            "responses": {
              "200": {"description": "An endless event stream.", "content": {"text/event-stream": {"schema": {
                "type": "object", "properties": {"event": {"type": "string", "enum": ["verdict", "part", "status"]}, "data": {"type": "string"}}
              }}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "503": {"$ref": "#/components/responses/Busy"}
            }
          }
        },
        "/api/v1/classify": {
          "post": {
            "summary": "Judges one posted JPEG (the whole image, no ROI) with the running models; stores nothing.",
            "requestBody": {
              "required": true,
              "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}
            },
            "responses": {
              "200": {"description": "The staged verdict.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Classification"}}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "413": {"$ref": "#/components/responses/Error"},
              "415": {"$ref": "#/components/responses/Error"},
              "422": {"description": "The image could not be judged (unreadable, too large, a model error): a no-verdict.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NoVerdict"}}}},
              "503": {"$ref": "#/components/responses/Busy"}
            }
          }
        },
        "/api/v1/trigger": {
          "post": {
            "summary": "A software trigger: a new part at the station, judged from the next frames of its views; its verdict goes to the store, the outputs and /api/v1/parts.",
            "security": [{"bearer": []}],
            "parameters": [
              {"name": "station", "in": "query", "description": "The station (optional when only one is configured; no control characters).", "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"}},
              {"name": "serial", "in": "query", "description": "What the part carries: serial, barcode, lot or order number (no control characters).", "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"}}
            ],
            "responses": {
              "202": {"description": "The part is on its way.", "content": {"application/json": {"schema": {
                "type": "object", "required": ["part", "station", "deadline_ms"], "additionalProperties": false,
                "properties": {"part": {"type": "integer", "minimum": 1}, "station": {"type": "string"}, "deadline_ms": {"type": "integer", "minimum": 1}}
              }}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "409": {"description": "No station is configured.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "503": {"$ref": "#/components/responses/Busy"}
            }
          }
        },
        "/api/v1/parts": {
          "get": {
            "summary": "Parts (one per trigger), newest first, each with the frame verdicts of its views.",
            "parameters": [
              {"name": "station", "in": "query", "description": "A configured station (no control characters).", "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"}},
              {"name": "before", "in": "query", "description": "The previous page's next_before.", "schema": {"type": "integer", "format": "int64", "minimum": 1}},
              {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
            ],
            "responses": {
              "200": {"description": "A page of parts.", "content": {"application/json": {"schema": {
                "type": "object", "required": ["items", "next_before"], "additionalProperties": false,
                "properties": {
                  "items": {"type": "array", "items": {"$ref": "#/components/schemas/Part"}},
                  "next_before": {"type": "integer", "nullable": true}
                }
              }}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "404": {"$ref": "#/components/responses/NotFound"},
              "503": {"$ref": "#/components/responses/Busy"}
            }
          }
        },
        "/operator": {
          "get": {
            "summary": "The operator's screen (HTML, no external assets), when [operator] enables it. Beyond loopback it needs the token: as a bearer header, or once as ?token= (kept in a cookie, then the page is at /operator).",
            "parameters": [
              {"name": "token", "in": "query", "description": "The bearer token, for a panel whose browser cannot send a header (no control characters).", "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"}}
            ],
            "responses": {
              "200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}},
              "303": {"description": "The token was taken; the page is at /operator."},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "404": {"$ref": "#/components/responses/NotFound"}
            }
          }
        },
        "/api/v1/operator/status": {
          "get": {
            "summary": "What the operator's screen shows: the shift's counts (parts, or frames without stations), the last part's views with their shots and defect maps, the last rejects, the stack light, alarms and recent events.",
            "responses": {
              "200": {"description": "The status.", "content": {"application/json": {"schema": {
                "type": "object", "required": ["unit", "counts", "last", "rejects", "light", "alarms", "events", "title", "time"],
                "properties": {"unit": {"type": "string", "enum": ["parts", "frames"]}, "light": {"type": "string", "enum": ["green", "yellow", "red"]},
                               "counts": {"type": "object"}, "last": {"type": "object"}, "rejects": {"type": "array"}, "alarms": {"type": "array", "items": {"type": "string"}},
                               "events": {"type": "array"}, "title": {"type": "string"}, "time": {"type": "number"}, "shift": {"type": "object"},
                               "product": {"type": "string"}, "products": {"type": "integer", "minimum": 1}}
              }}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "404": {"$ref": "#/components/responses/NotFound"}
            }
          }
        },
        "/api/v1/operator/shots/{file}": {
          "get": {
            "summary": "A frame on the operator's screen as JPEG (a camera's last, or a recent reject), by the shot id the status gives.",
            "parameters": [
              {"name": "file", "in": "path", "required": true, "description": "ID.jpg, ID a shot id.", "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,17}\\.jpg$"}}
            ],
            "responses": {
              "200": {"description": "The frame.", "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "404": {"$ref": "#/components/responses/NotFound"},
              "422": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/api/v1/product": {
          "get": {
            "summary": "The product the line makes ([[products]]: each with its model set), the products it can make, and the last changeovers.",
            "responses": {
              "200": {"$ref": "#/components/responses/Product"},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"}
            }
          },
          "post": {
            "summary": "Changeover without a restart: loads the product's model set for every camera and swaps it in only if all load; each verdict names the product whose models judged it; the daemon starts on it next time.",
            "security": [{"bearer": []}],
            "parameters": [
              {"name": "product", "in": "query", "required": true, "description": "A configured product id.", "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._-]+$"}}
            ],
            "responses": {
              "200": {"$ref": "#/components/responses/Product"},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "404": {"description": "No such product.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "409": {"$ref": "#/components/responses/Error"},
              "422": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/api/v1/models/reload": {
          "post": {
            "summary": "Loads the configured model files again for every camera; swaps them only if all load.",
            "security": [{"bearer": []}],
            "responses": {
              "200": {"description": "Reloaded.", "content": {"application/json": {"schema": {
                "type": "object", "required": ["status", "stage1"], "properties": {"status": {"type": "string"}, "stage1": {"type": "string"}}
              }}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "409": {"$ref": "#/components/responses/Error"},
              "422": {"$ref": "#/components/responses/Error"}
            }
          }
        }
      },
      "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "parameters": {
          "camera": {"name": "camera", "in": "query", "description": "A camera id the database knows (no control characters).", "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"}},
          "since": {"name": "since", "in": "query", "description": "From this time (Unix seconds, inclusive).", "schema": {"type": "number", "minimum": 0, "maximum": 253402300799}},
          "until": {"name": "until", "in": "query", "description": "Before this time (Unix seconds, exclusive); before since, the range is empty.", "schema": {"type": "number", "minimum": 0, "maximum": 253402300799}}
        },
        "responses": {
          "Error": {"description": "Refused.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "Product": {"description": "The product now.", "content": {"application/json": {"schema": {
            "type": "object", "required": ["product", "since", "changeovers", "models_stage1", "products", "history"], "additionalProperties": false,
            "properties": {
              "product": {"type": "string"}, "since": {"type": "number"}, "changeovers": {"type": "integer", "minimum": 0},
              "models_stage1": {"type": "string"},
              "products": {"type": "array", "items": {"type": "object", "required": ["id", "stage1", "stage2"], "additionalProperties": false,
                "properties": {"id": {"type": "string"}, "stage1": {"type": "string"}, "stage2": {"type": "string", "nullable": true}}}},
              "history": {"type": "array", "items": {"type": "object", "required": ["at", "product", "by"], "additionalProperties": false,
                "properties": {"at": {"type": "number"}, "product": {"type": "string"}, "by": {"type": "string"}}}}
            }
          }}}},
          "BadRequest": {"description": "A parameter or the body is not what the route takes (the error names it).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "NotFound": {"description": "No such camera, frame or route.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "Unauthorized": {"description": "The bearer token is missing or wrong.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "Forbidden": {"description": "The route needs a token and the daemon has none (set http.token_file).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "Busy": {"description": "Too many clients at once; retry after the Retry-After seconds.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        },
        "schemas": {
          "Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {"type": "string"}, "parameter": {"type": "string"}}
          },
          "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
          "NotReady": {
            "type": "object", "required": ["status", "pipelines_advancing", "store_failing", "cameras_failed"],
            "properties": {"status": {"type": "string"}, "pipelines_advancing": {"type": "boolean"}, "store_failing": {"type": "boolean"},
                           "cameras_failed": {"type": "array", "items": {"type": "string"}}}
          },
          "Verdict": {
            "type": "object",
            "required": ["id", "camera_id", "captured_at", "frame_sequence", "decision", "defects", "total_ms", "flags"],
            "properties": {
              "id": {"type": "integer"},
              "camera_id": {"type": "string"},
              "captured_at": {"type": "number"},
              "frame_sequence": {"type": "integer", "minimum": 0},
              "stage1_score": {"type": "number", "minimum": 0, "maximum": 1},
              "stage2_scores": {"type": "string", "description": "JSON object: defect kind -> stage-2 score."},
              "decision": {"type": "string", "enum": ["pass", "fail", "no_verdict"]},
              "defects": {"type": "string", "description": "Comma-separated defect kinds of a fail."},
              "stage1_model": {"type": "string"},
              "stage2_model": {"type": "string"},
              "stage1_ms": {"type": "number", "minimum": 0},
              "stage2_ms": {"type": "number", "minimum": 0},
              "total_ms": {"type": "number", "minimum": 0},
              "flags": {"type": "string", "description": "Comma-separated flag reasons."},
              "error": {"type": "string", "description": "Why a no-verdict has none."},
              "part_id": {"type": "integer", "description": "The part this frame was taken for (a station's trigger)."},
              "product": {"type": "string", "description": "The product whose models judged it ([[products]])."}
            }
          },
          "Part": {
            "type": "object",
            "required": ["id", "station", "triggered_at", "decision", "defects", "views", "frames", "decided_ms", "frames_judged"],
            "properties": {
              "id": {"type": "integer", "minimum": 1},
              "station": {"type": "string"},
              "triggered_at": {"type": "number"},
              "serial": {"type": "string"},
              "decision": {"type": "string", "enum": ["pass", "fail", "no_verdict"]},
              "defects": {"type": "string", "description": "Comma-separated view:kind of a fail."},
              "views": {"type": "integer", "minimum": 1},
              "frames": {"type": "integer", "minimum": 0},
              "decided_ms": {"type": "number", "minimum": 0},
              "error": {"type": "string", "description": "Why a part has no verdict (a deadline missed, a view's error)."},
              "frames_judged": {"type": "array", "items": {"$ref": "#/components/schemas/Verdict"}}
            }
          },
          "Stats": {
            "type": "object", "required": ["range", "cameras", "uptime_seconds"],
            "properties": {
              "parts": {
                "type": "object", "required": ["parts", "passes", "fails", "no_verdicts", "defects", "yield"],
                "properties": {
                  "parts": {"type": "integer", "minimum": 0}, "passes": {"type": "integer", "minimum": 0},
                  "fails": {"type": "integer", "minimum": 0}, "no_verdicts": {"type": "integer", "minimum": 0},
                  "defects": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
                  "yield": {"type": "number", "nullable": true, "minimum": 0, "maximum": 1}
                }
              },
              "range": {
                "type": "object", "required": ["frames", "passes", "fails", "no_verdicts", "flagged", "defects", "yield"],
                "properties": {
                  "frames": {"type": "integer", "minimum": 0},
                  "passes": {"type": "integer", "minimum": 0},
                  "fails": {"type": "integer", "minimum": 0},
                  "no_verdicts": {"type": "integer", "minimum": 0},
                  "flagged": {"type": "integer", "minimum": 0},
                  "defects": {"type": "object", "additionalProperties": {"type": "integer"}},
                  "yield": {"type": "number", "nullable": true, "minimum": 0, "maximum": 1}
                }
              },
              "cameras": {
                "type": "array",
                "items": {
                  "type": "object",
                  "required": ["camera", "received", "passes", "fails", "no_verdicts", "dropped", "queue_depth", "source", "model_stage1", "model_stage2", "latency_p50_ms", "latency_p99_ms"],
                  "properties": {
                    "camera": {"type": "string"},
                    "received": {"type": "integer"},
                    "passes": {"type": "integer"},
                    "fails": {"type": "integer"},
                    "no_verdicts": {"type": "integer"},
                    "dropped": {"type": "integer"},
                    "queue_depth": {"type": "integer"},
                    "source": {"type": "string"},
                    "model_stage1": {"type": "string"},
                    "model_stage2": {"type": "string", "nullable": true},
                    "product": {"type": "string", "description": "The product whose models the camera runs (empty when none is named)."},
                    "latency_p50_ms": {"type": "number", "nullable": true},
                    "latency_p99_ms": {"type": "number", "nullable": true},
                    "drift": {
                      "type": "object", "nullable": true,
                      "description": "Input drift: the camera's recent frames against the stage-1 model's training data (null: off, or the model has no reference). score 1 or more is the alarm.",
                      "properties": {
                        "score": {"type": "number", "nullable": true},
                        "alarm": {"type": "boolean"},
                        "psi": {"type": "number", "nullable": true},
                        "frames": {"type": "integer"},
                        "worst": {"type": "string"},
                        "shifts": {"type": "object", "description": "Per statistic (brightness, contrast, sharpness, embedding), the window's shift in training spreads.", "additionalProperties": {"type": "number", "nullable": true}},
                        "alarms": {"type": "integer"}
                      }
                    }
                  }
                }
              },
              "products": {
                "type": "object", "description": "The range's frames per product (key \"\": before products were named, or none is).",
                "additionalProperties": {"type": "object", "required": ["frames", "passes", "fails", "no_verdicts"],
                  "properties": {"frames": {"type": "integer", "minimum": 0}, "passes": {"type": "integer", "minimum": 0},
                                 "fails": {"type": "integer", "minimum": 0}, "no_verdicts": {"type": "integer", "minimum": 0}}}
              },
              "uptime_seconds": {"type": "number", "minimum": 0}
            }
          },
          "Classification": {
            "type": "object",
            "required": ["decision", "stage1_score", "defects", "stage2_scores", "unsure", "model_stage1", "model_stage2"],
            "properties": {
              "decision": {"type": "string", "enum": ["pass", "fail"]},
              "stage1_score": {"type": "number", "minimum": 0, "maximum": 1},
              "defects": {"type": "array", "items": {"type": "string"}},
              "stage2_scores": {"type": "object", "nullable": true, "additionalProperties": {"type": "number"}},
              "unsure": {"type": "boolean"},
              "model_stage1": {"type": "string"},
              "model_stage2": {"type": "string", "nullable": true}
            }
          },
          "NoVerdict": {
            "type": "object", "required": ["decision", "error"],
            "properties": {"decision": {"type": "string", "enum": ["no_verdict"]}, "error": {"type": "string"}}
          }
        }
      }
    }
    """#
}
