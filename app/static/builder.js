/* The sequence builder's canvas: Drawflow draws the steps, the server owns the graph.
 *
 * Every canvas action is one small JSON request (docs/builder.md); each answer carries the
 * whole state, which this file adopts and redraws from. User text (names, summaries,
 * problems) only ever goes into the page through textContent and setAttribute. Step kinds
 * (type -> label and colour) come from the server with the page, as does the first state.
 */
"use strict";

(function () {
  const root = document.getElementById("builder");
  if (!root) return;

  // Drawflow injects this with innerHTML, so it is a constant: never put step data here.
  const NODE_SKELETON =
    '<div class="step-type"></div><div class="step-name"></div>' +
    '<div class="step-summary"></div><ul class="step-problems"></ul>';
  const DRAG_TYPE = "application/x-pm-step-type";
  const NODE_WIDTH = 220; // as in builder.css; centres new nodes on the drop point
  const FIT_MARGIN = 48;
  const MESSAGE_SECONDS = 8;
  const UNDO_SECONDS = 30;
  const CONFLICT_MESSAGE =
    "This sequence was changed somewhere else (another tab or person). " +
    "Reload to continue from the saved version.";

  const config = {
    graphUrl: root.dataset.graphUrl,
    panelUrl: root.dataset.panelUrl,
    settingsUrl: root.dataset.settingsUrl,
    csrf: root.dataset.csrf,
    editable: root.dataset.editable !== "false",
  };
  const els = {
    canvas: document.getElementById("drawflow"),
    palette: document.getElementById("palette"),
    toolbar: document.getElementById("canvas-toolbar"),
    message: document.getElementById("canvas-message"),
    undoBar: document.getElementById("undo-bar"),
    deleteDialog: document.getElementById("delete-dialog"),
    panel: document.getElementById("panel"),
  };

  let state = JSON.parse(document.getElementById("builder-state").textContent);
  const kinds = JSON.parse(document.getElementById("builder-kinds").textContent);
  const nodes = new Map(); // Drawflow node id -> {stepId, outputs} as drawn
  const nodeOfStep = new Map(); // step id -> Drawflow node id
  let selectedStepId = null;
  let suppressEvents = false; // set while this file itself adds or removes connections
  let emittingGraph = false; // set while dispatching our own pm-graph event
  let pointerOnBackground = false;
  let queue = Promise.resolve();
  let pending = 0;
  let conflicted = false;
  let lastUndo = null;
  let messageTimer = null;
  let undoTimer = null;

  class EditError extends Error {}

  const editor = new Drawflow(els.canvas);
  editor.reroute = false;
  editor.force_first_input = true; // dropping a connection anywhere on a step joins its input
  editor.zoom_min = 0.3;
  editor.key = onCanvasKey; // before start(), which binds editor.key to keydown
  editor.start();
  if (!config.editable) {
    editor.editor_mode = "fixed";
    root.classList.add("is-readonly");
  }

  // ---- drawing --------------------------------------------------------------------------

  // A type this page was not sent (a newer server's) is drawn with its name and no colour.
  function kindOf(type) {
    return Object.hasOwn(kinds, type) ? kinds[type] : null;
  }

  function typeLabel(type) {
    const kind = kindOf(type);
    return kind ? kind.label : type;
  }

  function nodeElement(nodeId) {
    return document.getElementById("node-" + nodeId);
  }

  function editorData() {
    return editor.drawflow.drawflow[editor.module].data;
  }

  function portIndex(outputClass) {
    return Number(outputClass.slice("output_".length)) - 1;
  }

  function defaultPosition(index) {
    return { x: 40 + index * (NODE_WIDTH + 60), y: 120 };
  }

  function renderGraph() {
    suppressEvents = true;
    try {
      editor.clear();
      // clear() empties the canvas but keeps references to the removed elements.
      editor.node_selected = null;
      editor.connection_selected = null;
      nodes.clear();
      nodeOfStep.clear();
      state.steps.forEach((step, index) => addStepNode(step, step.position || defaultPosition(index)));
      state.connections.forEach(drawConnection);
    } finally {
      suppressEvents = false;
    }
    refreshNodes();
    restoreSelection();
  }

  function addStepNode(step, position) {
    const outputs = step.outputs.length;
    const nodeId = String(editor.addNode("step", 1, outputs, position.x, position.y, "step", {}, NODE_SKELETON));
    nodes.set(nodeId, { stepId: step.id, outputs: step.outputs.slice() });
    nodeOfStep.set(step.id, nodeId);
    const el = nodeElement(nodeId);
    el.setAttribute("data-step-id", step.id);
    el.setAttribute("data-step-type", step.type);
    const kind = kindOf(step.type);
    if (kind) el.style.setProperty("--step-color", kind.colour);
    el.querySelector(".step-type").textContent = typeLabel(step.type);
    step.outputs.forEach((label, index) => {
      if (label === null) return;
      const port = el.querySelector(".output_" + (index + 1));
      port.setAttribute("data-label", label);
      port.setAttribute("title", label + " path");
    });
    return nodeId;
  }

  function drawConnection(link) {
    const from = nodeOfStep.get(link.source);
    const to = nodeOfStep.get(link.target);
    if (from === undefined || to === undefined) return;
    const index = nodes.get(from).outputs.indexOf(link.label ?? null);
    if (index < 0) return; // a label the step lacks: the server lists it as a problem
    editor.addConnection(from, to, "output_" + (index + 1), "input_1");
  }

  function refreshNodes() {
    const problems = problemsByStep();
    for (const step of state.steps) {
      const nodeId = nodeOfStep.get(step.id);
      if (nodeId !== undefined) fillNode(nodeElement(nodeId), step, problems.get(step.id) || []);
    }
  }

  function problemsByStep() {
    const byStep = new Map();
    for (const problem of state.problems || []) {
      if (problem.step === null || problem.step === undefined) continue;
      if (!byStep.has(problem.step)) byStep.set(problem.step, []);
      byStep.get(problem.step).push(problem);
    }
    return byStep;
  }

  function fillNode(el, step, problems) {
    el.querySelector(".step-name").textContent = step.name || typeLabel(step.type);
    const summary = el.querySelector(".step-summary");
    summary.textContent = step.summary || "";
    summary.title = step.summary || "";
    el.querySelector(".step-problems").replaceChildren(...problems.map(problemItem));
    const hasError = problems.some((p) => p.severity !== "warning");
    el.classList.toggle("has-error", hasError);
    el.classList.toggle("has-warning", !hasError && problems.length > 0);
    if (problems.length) el.title = problems.map((p) => p.message).join("\n");
    else el.removeAttribute("title");
  }

  function problemItem(problem) {
    const item = document.createElement("li");
    item.className = problem.severity === "warning" ? "warning" : "error";
    item.textContent = problem.message;
    return item;
  }

  // ---- state ----------------------------------------------------------------------------

  function linkKey(source, label, target) {
    return JSON.stringify([source, label ?? null, target]);
  }

  // Only what the canvas can draw: a connection on a port the step lacks is just a problem.
  function stateSignature(graph) {
    const outputsOf = new Map(graph.steps.map((s) => [s.id, s.outputs]));
    const drawable = (c) => outputsOf.has(c.target) && (outputsOf.get(c.source) || []).includes(c.label ?? null);
    const steps = graph.steps.map((s) => JSON.stringify([s.id, s.outputs])).sort();
    const links = graph.connections
      .filter(drawable)
      .map((c) => linkKey(c.source, c.label, c.target))
      .sort();
    return JSON.stringify([steps, links]);
  }

  function canvasSignature() {
    const data = editorData();
    const steps = [];
    const links = [];
    for (const [nodeId, drawn] of nodes) {
      steps.push(JSON.stringify([drawn.stepId, drawn.outputs]));
      for (const [outputClass, port] of Object.entries(data[nodeId].outputs)) {
        const label = drawn.outputs[portIndex(outputClass)];
        for (const link of port.connections) {
          links.push(linkKey(drawn.stepId, label, nodes.get(String(link.node)).stepId));
        }
      }
    }
    return JSON.stringify([steps.sort(), links.sort()]);
  }

  /* Take a newer state: redraw when the graph's shape differs from the canvas, else only
   * refresh the texts. While other edits are still on their way the shape is left alone:
   * the canvas already shows them and the last answer will settle it. */
  function adoptState(next, rerender) {
    state = next;
    const heading = document.getElementById("sequence-name");
    if (heading && state.name) heading.textContent = state.name;
    if (rerender || (pending === 0 && canvasSignature() !== stateSignature(state))) renderGraph();
    else refreshNodes();
  }

  function announceGraph() {
    emittingGraph = true;
    try {
      document.body.dispatchEvent(new CustomEvent("pm-graph", { detail: state }));
    } finally {
      emittingGraph = false;
    }
  }

  // htmx passes an HX-Trigger object value as the detail itself, anything else as detail.value.
  function stateFromEvent(detail) {
    if (!detail) return null;
    const candidate = detail.version !== undefined ? detail : detail.value;
    return candidate && Array.isArray(candidate.steps) ? candidate : null;
  }

  function onGraphEvent(event) {
    if (emittingGraph) return;
    const next = stateFromEvent(event.detail);
    if (next && next.version >= state.version) adoptState(next, false);
  }

  // ---- requests -------------------------------------------------------------------------

  function canEdit() {
    return config.editable && !conflicted;
  }

  async function send(method, path, body) {
    if (conflicted) throw new EditError("");
    let response;
    try {
      response = await fetch(config.graphUrl + path, {
        method,
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": config.csrf,
          "X-Sequence-Version": String(state.version),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new EditError("The server could not be reached, so the change was not saved.");
    }
    const data = await response.json().catch(() => ({}));
    if (response.status === 409) {
      showConflict(errorMessage(data, CONFLICT_MESSAGE));
      throw new EditError("");
    }
    if (!response.ok || !data.state) {
      throw new EditError(errorMessage(data, `The change was not saved (error ${response.status}).`));
    }
    return data;
  }

  function errorMessage(data, fallback) {
    return (data && data.error && data.error.message) || fallback;
  }

  /* One request after the other, each sent with the version the previous one returned.
   * `onSaved` runs before the answer's state is adopted. */
  function edit(method, path, body, { rerender = false, onSaved } = {}) {
    pending += 1;
    const run = async () => {
      let data;
      try {
        data = await send(method, path, body);
      } finally {
        pending -= 1;
      }
      if (onSaved) onSaved(data);
      adoptState(data.state, rerender);
      announceGraph();
      return data;
    };
    const result = queue.then(run);
    queue = result.catch(() => {});
    return result;
  }

  // A refused edit: say why (a conflict already did) and show the last saved graph again.
  function refused(error) {
    if (!conflicted) {
      const unexpected = "Something went wrong; the canvas shows the saved sequence.";
      showMessage(error instanceof EditError ? error.message : unexpected);
    }
    renderGraph();
  }

  // ---- messages -------------------------------------------------------------------------

  function showMessage(text, kind = "error") {
    clearTimeout(messageTimer);
    els.message.replaceChildren(document.createTextNode(text));
    els.message.dataset.kind = kind;
    if (kind !== "conflict") messageTimer = setTimeout(clearMessage, MESSAGE_SECONDS * 1000);
  }

  function clearMessage() {
    els.message.replaceChildren();
    delete els.message.dataset.kind;
  }

  // Another tab saved first: nothing more is sent until the page is reloaded.
  function showConflict(text) {
    conflicted = true;
    editor.editor_mode = "fixed";
    root.classList.add("is-conflicted");
    showMessage(text, "conflict");
    const reload = document.createElement("button");
    reload.type = "button";
    reload.textContent = "Reload";
    reload.addEventListener("click", () => window.location.reload());
    els.message.append(" ", reload);
  }

  // ---- selection and panels -------------------------------------------------------------

  function loadPanel(url) {
    htmx.ajax("GET", url, { target: "#panel-body", swap: "innerHTML" });
  }

  function selectStep(stepId) {
    selectedStepId = stepId;
    loadPanel(config.panelUrl + encodeURIComponent(stepId) + "/panel");
  }

  function showSettings() {
    selectedStepId = null;
    loadPanel(config.settingsUrl);
  }

  function markSelected(nodeId) {
    if (editor.node_selected) editor.node_selected.classList.remove("selected");
    const el = nodeElement(nodeId);
    el.classList.add("selected");
    editor.node_selected = el; // so the Delete key and Drawflow's own unselect find it
  }

  function restoreSelection() {
    if (selectedStepId === null) return;
    const nodeId = nodeOfStep.get(selectedStepId);
    if (nodeId === undefined) showSettings();
    else markSelected(nodeId);
  }

  function onNodeSelected(nodeId) {
    selectStep(nodes.get(String(nodeId)).stepId);
  }

  // Drawflow also unselects when a connection is started or clicked: keep the panel then.
  function onNodeUnselected() {
    selectedStepId = null;
    if (pointerOnBackground) showSettings();
  }

  function onPointerDown(event) {
    pointerOnBackground = event.target === editor.container || event.target === editor.precanvas;
    if (editor.editor_mode === "fixed") selectInFixedMode(event.target);
  }

  // In 'fixed' mode Drawflow ignores clicks on nodes; steps stay selectable to view panels.
  function selectInFixedMode(target) {
    const el = target.closest(".drawflow-node");
    if (!el || el === editor.node_selected) return;
    const nodeId = el.id.slice("node-".length);
    markSelected(nodeId);
    onNodeSelected(nodeId);
  }

  // ---- editing --------------------------------------------------------------------------

  function canvasPoint(clientX, clientY) {
    const rect = editor.precanvas.getBoundingClientRect();
    return {
      x: Math.round((clientX - rect.left) / editor.zoom),
      y: Math.round((clientY - rect.top) / editor.zoom),
    };
  }

  function createStep(type, point) {
    if (!canEdit()) return;
    const position = { x: Math.round(point.x - NODE_WIDTH / 2), y: Math.round(point.y - 30) };
    edit("POST", "/steps", { type, position }, {
      onSaved(data) {
        const step = data.state.steps.find((s) => s.id === data.step);
        addStepNode(step, step.position || position);
      },
    })
      .then((data) => selectNewStep(data.step))
      .catch(refused);
  }

  // A new step opens its settings at once: it usually needs some.
  function selectNewStep(stepId) {
    const nodeId = nodeOfStep.get(stepId);
    if (nodeId === undefined) return;
    markSelected(nodeId);
    selectStep(stepId);
  }

  function addStepAtCentre(type) {
    const rect = els.canvas.getBoundingClientRect();
    const cascade = (state.steps.length % 6) * 24; // several clicks do not stack exactly
    const centre = canvasPoint(rect.left + rect.width / 2 + cascade, rect.top + rect.height / 2 + cascade);
    createStep(type, centre);
  }

  function onNodeMoved(nodeId) {
    nodeId = String(nodeId);
    // Drawflow's pos_x/pos_y run one mouse step ahead of the element: read the element.
    const el = nodeElement(nodeId);
    const position = { x: el.offsetLeft, y: el.offsetTop };
    placeNode(nodeId, position);
    edit("PATCH", "/steps/" + encodeURIComponent(nodes.get(nodeId).stepId), { position }).catch(refused);
  }

  // Whole pixels, as stored, so a reload draws the step exactly where it was left.
  function placeNode(nodeId, position) {
    const node = editorData()[nodeId];
    const el = nodeElement(nodeId);
    node.pos_x = position.x;
    node.pos_y = position.y;
    el.style.left = position.x + "px";
    el.style.top = position.y + "px";
    editor.updateConnectionNodes("node-" + nodeId);
  }

  function linkFromEvent(event) {
    const from = nodes.get(String(event.output_id));
    return {
      source: from.stepId,
      target: nodes.get(String(event.input_id)).stepId,
      label: from.outputs[portIndex(event.output_class)] ?? null,
    };
  }

  function stepName(stepId) {
    const step = state.steps.find((s) => s.id === stepId);
    return step ? step.name || typeLabel(step.type) : stepId;
  }

  // The same rules as the server, checked here for an instant answer.
  function brokenConnectionRule(event, link) {
    if (String(event.output_id) === String(event.input_id)) return "A step cannot lead to itself.";
    const port = editorData()[event.output_id].outputs[event.output_class].connections;
    if (port.filter((c) => String(c.node) === String(event.input_id)).length > 1) {
      return "These two steps are already connected this way.";
    }
    if (port.length > 1) {
      const what = link.label === null ? "a next step" : `a '${link.label}' path`;
      return `${stepName(link.source)} already has ${what}. Delete that connection first.`;
    }
    return null;
  }

  function removeConnectionQuietly(event) {
    suppressEvents = true;
    try {
      editor.removeSingleConnection(event.output_id, event.input_id, event.output_class, event.input_class);
    } finally {
      suppressEvents = false;
    }
  }

  function onConnectionCreated(event) {
    if (suppressEvents) return;
    const link = linkFromEvent(event);
    const broken = brokenConnectionRule(event, link);
    if (broken) {
      removeConnectionQuietly(event);
      showMessage(broken);
      return;
    }
    edit("POST", "/connections", link).catch(refused);
  }

  function onConnectionRemoved(event) {
    if (suppressEvents) return;
    edit("DELETE", "/connections", linkFromEvent(event)).catch(refused);
  }

  // ---- deleting steps -------------------------------------------------------------------

  function requestDelete(stepId) {
    if (!canEdit()) return;
    const incoming = state.connections.filter((c) => c.target === stepId).length;
    const outgoing = state.connections.filter((c) => c.source === stepId).length;
    if (incoming >= 1 && outgoing === 1) askHowToDelete(stepId);
    else deleteStep(stepId, false);
  }

  function askHowToDelete(stepId) {
    const dialog = els.deleteDialog;
    const nameSlot = dialog.querySelector("[data-step-name]");
    if (nameSlot) nameSlot.textContent = stepName(stepId);
    dialog.returnValue = "";
    dialog.addEventListener(
      "close",
      () => {
        if (dialog.returnValue === "reconnect" || dialog.returnValue === "delete") {
          deleteStep(stepId, dialog.returnValue === "reconnect");
        }
      },
      { once: true },
    );
    dialog.showModal();
  }

  // The dialog's buttons close it with their value, whether or not they sit in a form.
  function onDialogClick(event) {
    const button = event.target.closest("button[value]");
    if (!button) return;
    event.preventDefault();
    els.deleteDialog.close(button.value);
  }

  function deleteStep(stepId, reconnect) {
    const name = stepName(stepId);
    edit("DELETE", "/steps/" + encodeURIComponent(stepId), { reconnect }, { rerender: true })
      .then((data) => offerUndo(data.undo, name))
      .catch(refused);
  }

  function offerUndo(undo, name) {
    lastUndo = undo;
    els.undoBar.querySelector("span").textContent = `Deleted “${name}”.`;
    els.undoBar.hidden = false;
    clearTimeout(undoTimer);
    undoTimer = setTimeout(hideUndo, UNDO_SECONDS * 1000);
  }

  function hideUndo() {
    clearTimeout(undoTimer);
    els.undoBar.hidden = true;
  }

  function undoDelete() {
    const undo = lastUndo;
    lastUndo = null;
    hideUndo();
    if (undo && canEdit()) edit("POST", "/restore", { undo }, { rerender: true }).catch(refused);
  }

  function selectedNodeStepId() {
    return nodes.get(editor.node_selected.id.slice("node-".length)).stepId;
  }

  // Replaces Drawflow's key handler, which would delete the node without asking the server.
  function onCanvasKey(event) {
    if (editor.editor_mode !== "edit") return;
    if (event.key !== "Delete" && event.key !== "Backspace") return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    if (editor.node_selected) {
      event.preventDefault();
      requestDelete(selectedNodeStepId());
    } else if (editor.connection_selected) {
      event.preventDefault();
      editor.removeConnection();
    }
  }

  // Drawflow's × (right click) on a node: our delete instead of its own.
  function interceptNodeDelete(event) {
    if (!event.target.closest(".drawflow-delete") || !editor.node_selected) return;
    event.stopPropagation();
    event.preventDefault();
    const stepId = selectedNodeStepId();
    editor.contextmenuDel();
    requestDelete(stepId);
  }

  // ---- variable picker ------------------------------------------------------------------
  // An email panel's variable buttons insert their text at the cursor of the text box of
  // that form focused last (the body until another one is focused).
  function setUpVariablePicker() {
    const lastFocused = new WeakMap();
    els.panel.addEventListener("focusin", (event) => {
      const box = event.target;
      if (box.form && box.hasAttribute("data-insertable")) lastFocused.set(box.form, box);
    });
    els.panel.addEventListener("click", (event) => {
      const button = event.target.closest("[data-insert]");
      const form = button && button.closest("form");
      if (!form) return;
      const target = lastFocused.get(form) || form.querySelector('[name="body"]');
      if (!target || target.disabled) return;
      const text = button.getAttribute("data-insert");
      target.setRangeText(text, target.selectionStart, target.selectionEnd, "end");
      target.focus();
      target.dispatchEvent(new Event("input", { bubbles: true }));
    });
  }

  // ---- view -----------------------------------------------------------------------------

  function setView(zoom, x, y) {
    editor.zoom = zoom;
    editor.zoom_last_value = zoom;
    editor.canvas_x = x;
    editor.canvas_y = y;
    editor.precanvas.style.transform = `translate(${x}px, ${y}px) scale(${zoom})`;
  }

  function fitView() {
    const boxes = [...nodes.keys()].map(nodeElement);
    if (!boxes.length) {
      setView(1, 0, 0);
      return;
    }
    const left = Math.min(...boxes.map((el) => el.offsetLeft));
    const top = Math.min(...boxes.map((el) => el.offsetTop));
    const right = Math.max(...boxes.map((el) => el.offsetLeft + el.offsetWidth));
    const bottom = Math.max(...boxes.map((el) => el.offsetTop + el.offsetHeight));
    const width = editor.container.clientWidth;
    const height = editor.container.clientHeight;
    const fit = Math.min(
      (width - 2 * FIT_MARGIN) / (right - left),
      (height - 2 * FIT_MARGIN) / (bottom - top),
    );
    const zoom = Math.max(editor.zoom_min, Math.min(1, fit));
    // The canvas scales around its centre (CSS default transform-origin), hence these offsets.
    const x = (width / 2 - (left + right) / 2) * zoom;
    const y = (height / 2 - (top + bottom) / 2) * zoom;
    setView(zoom, x, y);
  }

  function layout() {
    if (!canEdit()) return;
    edit("POST", "/layout", {}, { rerender: true }).then(fitView).catch(refused);
  }

  function onToolbarClick(event) {
    const button = event.target.closest("[data-canvas]");
    if (!button) return;
    const actions = {
      "zoom-in": () => editor.zoom_in(),
      "zoom-out": () => editor.zoom_out(),
      fit: fitView,
      layout,
    };
    const action = actions[button.dataset.canvas];
    if (action) action();
  }

  // ---- wiring ---------------------------------------------------------------------------

  function setUpPalette() {
    if (!els.palette) return;
    for (const item of els.palette.querySelectorAll(".palette-item[data-step-type]")) {
      if (!config.editable) {
        item.draggable = false;
        item.setAttribute("aria-disabled", "true");
        continue;
      }
      item.addEventListener("dragstart", (event) => {
        event.dataTransfer.setData(DRAG_TYPE, item.dataset.stepType);
        event.dataTransfer.effectAllowed = "copy";
      });
      item.addEventListener("click", () => addStepAtCentre(item.dataset.stepType));
      item.addEventListener("keydown", (event) => {
        if (event.key !== "Enter" && event.key !== " ") return;
        event.preventDefault();
        addStepAtCentre(item.dataset.stepType);
      });
    }
    els.canvas.addEventListener("dragover", (event) => {
      if (!event.dataTransfer.types.includes(DRAG_TYPE)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    els.canvas.addEventListener("drop", (event) => {
      const type = event.dataTransfer.getData(DRAG_TYPE);
      if (!type) return;
      event.preventDefault();
      createStep(type, canvasPoint(event.clientX, event.clientY));
    });
  }

  function setUpHtmx() {
    document.body.addEventListener("htmx:configRequest", (event) => {
      event.detail.headers["X-Sequence-Version"] = String(state.version);
      event.detail.headers["X-CSRFToken"] = config.csrf;
    });
    document.body.addEventListener("htmx:responseError", (event) => {
      const xhr = event.detail.xhr;
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        // an HTML answer: the generic message says it
      }
      if (xhr.status === 409) {
        showConflict(errorMessage(data, CONFLICT_MESSAGE));
      } else {
        showMessage(errorMessage(data, `The change was not saved (error ${xhr.status}).`));
      }
    });
  }

  editor.on("nodeSelected", onNodeSelected);
  editor.on("nodeUnselected", onNodeUnselected);
  editor.on("click", onPointerDown);
  // Drawflow's mousedown on a line prevents focus, which the Delete key needs.
  editor.on("connectionSelected", () => els.canvas.focus({ preventScroll: true }));
  editor.on("nodeMoved", onNodeMoved);
  editor.on("connectionCreated", onConnectionCreated);
  editor.on("connectionRemoved", onConnectionRemoved);
  els.canvas.addEventListener("mousedown", interceptNodeDelete, true);
  els.canvas.addEventListener("touchstart", interceptNodeDelete, true);
  els.toolbar.addEventListener("click", onToolbarClick);
  els.deleteDialog.addEventListener("click", onDialogClick);
  els.undoBar.querySelector("[data-undo]").addEventListener("click", undoDelete);
  document.body.addEventListener("pm-graph", onGraphEvent);
  setUpPalette();
  setUpHtmx();
  setUpVariablePicker();
  if (!config.editable) {
    const layoutButton = els.toolbar.querySelector('[data-canvas="layout"]');
    if (layoutButton) layoutButton.disabled = true;
  }

  renderGraph();
  fitView();
})();
