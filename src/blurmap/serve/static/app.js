// The blurmap page: pick a task and a model, drop an image, see the result next to the input.
// It talks to the same REST API scripts use (with format=json), so what works here works there.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const TASKS = {
    "deblur": { endpoint: "/v1/deblur", files: 1, title: "Drop an image here" },
    "blur-mask": { endpoint: "/v1/blur-mask", files: 1, title: "Drop an image here" },
    "defocus-map": { endpoint: "/v1/defocus-map", files: 2, title: "Left view: drop it here" },
  };
  const state = { models: [], files: { main: null, right: null }, result: null, busy: false };

  function token() {
    return $("token").value.trim() || sessionStorage.getItem("blurmap-token") || "";
  }

  function authHeaders(xhr) {
    const t = token();
    if (t) {
      sessionStorage.setItem("blurmap-token", t);
      xhr.setRequestHeader("Authorization", "Bearer " + t);
    }
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
  }

  function errorText(xhr) {
    // The server always answers errors as {"error": "..."}; say something useful otherwise.
    try {
      const body = JSON.parse(xhr.responseText);
      if (body && body.error) return body.error;
    } catch (e) { /* not JSON */ }
    if (xhr.status === 0) return "Could not reach the server (is it still running?).";
    return "The server answered " + xhr.status + " " + (xhr.statusText || "") + ".";
  }

  function request(method, url, body, onUploadProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      authHeaders(xhr);
      if (onUploadProgress && xhr.upload) {
        xhr.upload.onprogress = (e) => { if (e.lengthComputable) onUploadProgress(e.loaded / e.total); };
      }
      xhr.onload = () => (xhr.status === 200 ? resolve(JSON.parse(xhr.responseText)) : reject(xhr));
      xhr.onerror = () => reject(xhr);
      xhr.send(body);
    });
  }

  // ------------------------------------------------------------------ models and tasks

  function modelsFor(task) {
    const endpoint = TASKS[task].endpoint;
    return state.models.filter((m) => m.endpoints.indexOf(endpoint) >= 0);
  }

  function currentModel() {
    return state.models.find((m) => m.name === $("model").value);
  }

  function refreshTask() {
    const task = $("task").value;
    const select = $("model");
    const previous = select.value;
    select.textContent = "";
    for (const m of modelsFor(task)) {
      const option = document.createElement("option");
      option.value = m.name;
      option.textContent = m.name + " (" + m.network + ")";
      select.appendChild(option);
    }
    if (modelsFor(task).some((m) => m.name === previous)) select.value = previous;
    for (const el of document.querySelectorAll(".deblur-only")) el.hidden = task !== "deblur";
    for (const el of document.querySelectorAll(".dp-only")) el.hidden = TASKS[task].files < 2;
    $("drop-main").querySelector(".drop-title").textContent = TASKS[task].title;
    refreshModel();
  }

  function refreshModel() {
    const m = currentModel();
    const task = $("task").value;
    if (!m) {
      $("model-task").textContent = state.models.length ? "This server has no model for this task." : "";
    } else {
      $("model-task").textContent = m.task + " · " + m.parameters.toLocaleString() + " parameters";
    }
    $("gate-row").hidden = task !== "deblur" || !(m && m.gate);
    refreshRun();
  }

  function refreshRun() {
    const task = TASKS[$("task").value];
    const ready = currentModel() && state.files.main && (task.files < 2 || state.files.right);
    $("run").disabled = !ready || state.busy;
  }

  function loadModels() {
    return request("GET", "/v1/models", null).then((body) => {
      state.models = body.models;
      $("token-row").hidden = !token();
      showError("");
      refreshTask();
    }, (xhr) => {
      if (xhr.status === 401) {
        $("token-row").hidden = false;
        showError("This server needs an access token: type it in the field above.");
      } else {
        showError(errorText(xhr));
      }
    });
  }

  // ------------------------------------------------------------------------ files

  function setFile(slot, file) {
    state.files[slot] = file || null;
    $("name-" + slot).textContent = file ? file.name + " (" + (file.size / 1e6).toFixed(2) + " MB)" : "";
    showError("");
    refreshRun();
  }

  function wireDrop(slot) {
    const zone = $("drop-" + slot);
    const input = $("file-" + slot);
    zone.addEventListener("click", () => input.click());
    zone.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
    });
    input.addEventListener("change", () => setFile(slot, input.files[0]));
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      if (e.dataTransfer.files.length) setFile(slot, e.dataTransfer.files[0]);
    });
  }

  // ------------------------------------------------------------------------- run

  function setBusy(busy, text) {
    state.busy = busy;
    $("progress").hidden = !busy;
    $("progress-text").textContent = text || "";
    refreshRun();
  }

  function run() {
    const taskName = $("task").value;
    const task = TASKS[taskName];
    const form = new FormData();
    if (taskName === "defocus-map") {
      form.append("left", state.files.main);
      form.append("right", state.files.right);
    } else {
      form.append("file", state.files.main);
    }
    form.append("model", $("model").value);
    form.append("format", "json");
    if (taskName === "deblur") {
      form.append("precision", $("precision").value);
      form.append("gate", $("gate").checked && !$("gate-row").hidden ? "true" : "false");
    }
    const bar = $("progress-bar");
    bar.value = 0;
    showError("");
    setBusy(true, "Uploading…");
    const started = Date.now();
    let ticker = null;
    request("POST", task.endpoint, form, (fraction) => {
      bar.value = Math.round(fraction * 100);
      if (fraction >= 1 && !ticker) {
        bar.removeAttribute("value"); // indeterminate while the model runs
        ticker = setInterval(() => {
          $("progress-text").textContent = "Processing… " + ((Date.now() - started) / 1000).toFixed(0) + " s";
        }, 500);
      }
    }).then((body) => {
      clearInterval(ticker);
      setBusy(false);
      show(taskName, body);
    }, (xhr) => {
      clearInterval(ticker);
      setBusy(false);
      if (xhr.status === 401) $("token-row").hidden = false;
      showError(errorText(xhr));
    });
  }

  function stem(name) {
    const i = name.lastIndexOf(".");
    return i > 0 ? name.slice(0, i) : name;
  }

  function show(taskName, body) {
    const deblur = taskName === "deblur";
    $("result").hidden = false;
    $("result-title").textContent = deblur ? "Restored image" : (taskName === "blur-mask" ? "Blur mask" : "Defocus map");
    const parts = [body.model + " (" + body.network + ")", body.width + "×" + body.height + " px"];
    if (body.bits) parts.push(body.bits + "-bit");
    if (body.gate) parts.push("background gate on");
    parts.push(body.seconds.toFixed(2) + " s on the server");
    $("result-info").textContent = parts.join(" · ") + (body.warnings.length ? " · " + body.warnings.join("; ") : "");

    // Shown at most at their own size (a phone scales them down to its width).
    $("compare-figure").style.maxWidth = body.width + "px";
    $("map-figure").style.maxWidth = Math.max(body.width, 240) + "px"; // room for the bar's labels
    $("map").style.maxWidth = body.width + "px";
    $("before").src = body.input;
    $("compare").classList.toggle("single", !deblur);
    $("slider-row").hidden = !deblur;
    $("compare-title").textContent = deblur ? "Input (left) and restored (right)" : "Input";
    if (deblur) {
      $("after").src = body.image;
      slide();
    }
    const hasMap = Boolean(body.map);
    $("map-figure").hidden = !hasMap;
    $("download-map").hidden = !hasMap;
    if (hasMap) {
      $("map").src = body.map;
      $("map-title").textContent = body.colorbar.kind === "mask" ? "Blur map (probability of local blur)" : "Defocus map";
      const stops = body.colorbar.colors.map((c, i, all) => c + " " + (100 * i / (all.length - 1)).toFixed(1) + "%");
      $("colorbar").style.background = "linear-gradient(to right, " + stops.join(", ") + ")";
      $("bar-min").textContent = fmt(body.colorbar.min);
      $("bar-max").textContent = fmt(body.colorbar.max);
      $("bar-label").textContent = body.colorbar.label;
      $("download-map").href = body.map;
      $("download-map").download = stem(state.files.main.name) + "_map.png";
    }
    const download = $("download");
    download.hidden = !deblur;
    if (deblur) {
      download.href = body.image;
      download.download = stem(state.files.main.name) + "_deblurred.png";
    }
    $("result").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function fmt(x) {
    return Math.abs(x) >= 10 ? x.toFixed(0) : x.toFixed(1);
  }

  function slide() {
    const v = $("slider").value;
    $("after").style.clipPath = "inset(0 0 0 " + v + "%)";
    $("divider").style.left = v + "%";
  }

  document.addEventListener("DOMContentLoaded", () => {
    wireDrop("main");
    wireDrop("right");
    $("task").addEventListener("change", refreshTask);
    $("model").addEventListener("change", refreshModel);
    $("slider").addEventListener("input", slide);
    $("run").addEventListener("click", run);
    $("token").addEventListener("change", loadModels);
    loadModels();
  });
})();
