// Prism web UI: builds the instance from the *try it* form, posts it, shows the server's
// HTML fragment, and redraws heatmaps when their options change. Pictures and numbers are
// made on the server; this file only moves data.
(function () {
  "use strict";

  var NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

  function featureError(label, message) {
    return new Error(label + ": " + message);
  }

  function labelOf(el) {
    var label = el.id ? document.querySelector('label[for="' + el.id + '"]') : null;
    return label ? label.firstChild.textContent.trim() : el.getAttribute("data-feature");
  }

  function readFile(file) {
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () {
        var url = String(reader.result);
        resolve(url.slice(url.indexOf(",") + 1));
      };
      reader.onerror = function () { reject(reader.error); };
      reader.readAsDataURL(file);
    });
  }

  // One field's value, as the instance carries it.
  function fieldValue(el) {
    var kind = el.getAttribute("data-kind");
    var label = labelOf(el);
    if (kind === "image") {
      if (!el.files || el.files.length === 0) {
        return Promise.reject(featureError(label, "choose an image file"));
      }
      return readFile(el.files[0]).then(function (b64) { return { b64: b64 }; });
    }
    var text = el.value.trim();
    if (text === "") {
      return Promise.reject(featureError(label, "needs a value"));
    }
    if (kind === "number") {
      if (!NUMBER.test(text)) {
        return Promise.reject(featureError(label, "not a number: " + text));
      }
      return Promise.resolve(Number(text));
    }
    if (kind === "auto") {
      return Promise.resolve(NUMBER.test(text) ? Number(text) : text);
    }
    if (kind === "tokens") {
      return Promise.resolve(text.split(/\s+/).map(function (t) {
        return NUMBER.test(t) ? Number(t) : t;
      }));
    }
    try {
      return Promise.resolve(JSON.parse(text));
    } catch (e) {
      return Promise.reject(featureError(label, "not JSON: " + e.message));
    }
  }

  function buildInstance(form) {
    var mode = form.querySelector('input[name="mode"]:checked');
    if (mode && mode.value === "json") {
      var text = form.querySelector("#instance-json").value;
      try {
        return Promise.resolve(JSON.parse(text));
      } catch (e) {
        return Promise.reject(new Error("The instance is not JSON: " + e.message));
      }
    }
    var fields = Array.prototype.slice.call(form.querySelectorAll("[data-feature]"));
    return Promise.all(fields.map(fieldValue)).then(function (values) {
      var instance = {};
      fields.forEach(function (el, i) { instance[el.getAttribute("data-feature")] = values[i]; });
      return instance;
    });
  }

  function setupTryForm(form) {
    var status = document.getElementById("try-status");
    var result = document.getElementById("result");
    var button = document.getElementById("explain-button");

    form.querySelectorAll('input[name="mode"]').forEach(function (radio) {
      radio.addEventListener("change", function () {
        form.querySelectorAll("[data-mode]").forEach(function (part) {
          part.hidden = part.getAttribute("data-mode") !== radio.value || !radio.checked;
        });
      });
    });

    var filter = document.getElementById("feature-filter");
    if (filter) {
      filter.addEventListener("input", function () {
        var q = filter.value.trim().toLowerCase();
        form.querySelectorAll(".field").forEach(function (f) {
          f.hidden = q !== "" && f.getAttribute("data-label").indexOf(q) < 0;
        });
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      status.textContent = "Explaining…";
      result.setAttribute("aria-busy", "true");
      var started = performance.now();
      buildInstance(form)
        .then(function (instance) {
          var body = { instance: instance };
          var deployment = form.querySelector("#deployment");
          if (deployment) body.deployedModelId = deployment.value;
          return fetch(form.action, {
            method: "POST",
            credentials: "same-origin",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          });
        })
        .then(function (response) {
          return response.text().then(function (html) {
            // The server escapes everything it puts into the fragment.
            result.innerHTML = html;
            setupHeatmaps(result);
            status.textContent = response.ok
              ? "Done in " + Math.round(performance.now() - started) + " ms."
              : "The explanation failed (" + response.status + ").";
            var title = document.getElementById("result-title");
            if (title) title.focus();
          });
        })
        .catch(function (e) {
          status.textContent = "";
          result.innerHTML = "";
          var alert = document.createElement("div");
          alert.className = "alert";
          alert.setAttribute("role", "alert");
          var p = document.createElement("p");
          p.className = "alert-message";
          p.textContent = e.message;
          alert.appendChild(p);
          result.appendChild(alert);
        })
        .then(function () {
          button.disabled = false;
          result.setAttribute("aria-busy", "false");
        });
    });
  }

  function setupHeatmaps(root) {
    root.querySelectorAll("form.heatmap-controls").forEach(function (controls) {
      var img = document.getElementById(controls.getAttribute("data-target"));
      var note = controls.querySelector(".heatmap-status");
      if (!img) return;
      img.addEventListener("error", function () {
        note.textContent = "The picture could not be drawn with these options (or the explanation is no longer kept: run it again).";
      });
      img.addEventListener("load", function () { note.textContent = ""; });
      controls.addEventListener("submit", function (e) { e.preventDefault(); });
      controls.addEventListener("change", function () {
        var params = new URLSearchParams();
        controls.querySelectorAll("select, input").forEach(function (el) {
          if (!el.disabled && el.value !== "") params.set(el.name, el.value);
        });
        img.src = controls.getAttribute("data-src") + "?" + params.toString();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("try-form");
    if (form) setupTryForm(form);
    // The batch jobs page, while a job runs: reload it to show progress.
    var live = document.querySelector("[data-auto-refresh]");
    if (live) {
      var ms = Number(live.getAttribute("data-auto-refresh")) || 2000;
      setTimeout(function () { window.location.reload(); }, ms);
    }
  });
})();
