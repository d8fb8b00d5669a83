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
    '<div class="step-summary"></div><ul class="step-problems"></ul>' +
    '<button type="button" class="step-delete" tabindex="-1" title="Delete this step">×</button>';
  const DRAG_TYPE = "application/x-pm-step-type";
  const NODE_WIDTH = 220; // as in builder.css; centres new nodes on the drop point
  const NODE_GAP = 40; // kept free around a new step
  const FIT_MARGIN = 48;
  const TOOLBAR_SPACE = 64; // Fit keeps the top of the flow clear of the canvas toolbar
  const READABLE_ZOOM = 0.7; // Fit never goes below it: the canvas scrolls instead
  const EDGE_HIT = 10; // how near a path a dropped step counts as dropped on it
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
    zoom: document.getElementById("canvas-zoom"),
    insertMenu: document.getElementById("insert-menu"),
    undoBar: document.getElementById("undo-bar"),
    deleteDialog: document.getElementById("delete-dialog"),
    panel: document.getElementById("panel"),
  };

  let state = JSON.parse(document.getElementById("builder-state").textContent);
  const kinds = JSON.parse(document.getElementById("builder-kinds").textContent);
  const edgeLayer = document.createElement("div"); // the "+" buttons, inside the canvas
  edgeLayer.className = "edge-layer";
  const nodes = new Map(); // Drawflow node id -> {stepId, outputs} as drawn
  const nodeOfStep = new Map(); // step id -> Drawflow node id
  let selectedStepId = null;
  let suppressEvents = false; // set while this file itself adds or removes connections
  let emittingGraph = false; // set while dispatching our own pm-graph event
  let pointerOnBackground = false;
  let queue = Promise.resolve();
  let sending = Promise.resolve(); // the canvas request in flight, until its state is adopted
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
  editor.createCurvature = verticalCurve; // cards run top to bottom: so do their links
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
    return { x: 60, y: 60 + index * 160 }; // as app/core/layout.py places a chain
  }

  // Links leave a card downwards and enter the next one from above.
  function verticalCurve(startX, startY, endX, endY) {
    const bend = Math.max(30, Math.abs(endY - startY) / 2);
    return ` M ${startX} ${startY} C ${startX} ${startY + bend} ${endX} ${endY - bend} ${endX} ${endY}`;
  }

  // A redraw replaces every card: a keyboard user's focused card gets the focus back.
  function renderGraph() {
    const focusedCard = document.activeElement && document.activeElement.closest("#drawflow .drawflow-node");
    const focusedStep = focusedCard ? focusedCard.dataset.stepId : null;
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
      editor.precanvas.append(edgeLayer);
    } finally {
      suppressEvents = false;
    }
    refreshNodes();
    restoreSelection();
    const refocus = focusedStep !== null && nodeOfStep.get(focusedStep);
    if (refocus) nodeElement(refocus).focus({ preventScroll: true });
  }

  function addStepNode(step, position) {
    const outputs = step.outputs.length;
    const nodeId = String(editor.addNode("step", 1, outputs, position.x, position.y, "step", {}, NODE_SKELETON));
    nodes.set(nodeId, { stepId: step.id, outputs: step.outputs.slice() });
    nodeOfStep.set(step.id, nodeId);
    const el = nodeElement(nodeId);
    el.setAttribute("data-step-id", step.id);
    el.setAttribute("data-step-type", step.type);
    el.setAttribute("tabindex", "0");
    el.setAttribute("role", "group");
    el.setAttribute("aria-roledescription", "step");
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

  // New texts change a card's height, and so where its output ports are: links follow.
  function refreshNodes() {
    const problems = problemsByStep();
    for (const step of state.steps) {
      const nodeId = nodeOfStep.get(step.id);
      if (nodeId !== undefined) fillNode(nodeElement(nodeId), step, problems.get(step.id) || []);
    }
    for (const nodeId of nodes.keys()) editor.updateConnectionNodes("node-" + nodeId);
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
    const name = step.name || typeLabel(step.type);
    el.querySelector(".step-name").textContent = name;
    el.setAttribute("aria-label", `${typeLabel(step.type)}: ${name}`);
    el.querySelector(".step-delete").setAttribute("aria-label", `Delete ${name}`);
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
    drawEdgeButtons();
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

  /* One request after the other, each sent with the version the previous one returned,
   * and after the open panel's pending save (it changes the version too).
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
    const start = () => {
      const request = run();
      sending = request.catch(() => {});
      return request;
    };
    const autosave = window.PanelAutosave;
    const result = queue.then(() => autosave && autosave.flush()).then(start);
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

  function showMessage(text, kind = "error") { // kinds: error, info, conflict
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

  // Unsaved panel edits are saved (or kept, when refused) before another panel replaces them.
  // Every panel load comes from #panel-body, which also loads the settings when the page
  // opens: a newer load aborts one still on its way, so a late answer (that first load's,
  // on a slow connection) never replaces the panel opened since. Resolves true once shown.
  function loadPanel(url) {
    const autosave = window.PanelAutosave;
    const leaving = autosave ? autosave.leave() : Promise.resolve(null);
    return leaving.then((keptStep) => {
      if (keptStep) {
        const what = keptStep === "settings" ? "the sequence settings" : stepName(keptStep);
        showMessage(`Your changes to ${what} are not saved yet (see the marked fields): they are kept until you open it again.`);
      }
      htmx.trigger("#panel-body", "htmx:abort");
      if (autosave && autosave.restore(url)) return true;
      const panel = { source: "#panel-body", target: "#panel-body", swap: "innerHTML" };
      return htmx.ajax("GET", url, panel).then(() => true, () => false);
    });
  }

  function selectStep(stepId, focusPanel = false) {
    selectedStepId = stepId;
    loadPanel(config.panelUrl + encodeURIComponent(stepId) + "/panel").then((shown) => {
      if (!shown || !focusPanel) return;
      const field = els.panel.querySelector("#panel-body .panel-fields :is(input, select, textarea)");
      if (field) field.focus();
    });
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

  function centredOn(point) {
    return { x: Math.round(point.x - NODE_WIDTH / 2), y: Math.round(point.y - 30) };
  }

  /* `insert`: the connection {source, target, label} the new step goes into; the server
   * places it and moves the steps below it down a row, so the whole graph is drawn again. */
  // `focusPanel`: the step was added from the keyboard, so its settings take the focus.
  function createStep(type, position, insert = null, focusPanel = false) {
    if (!canEdit()) return;
    const body = insert ? { type, insert } : { type, position };
    edit("POST", "/steps", body, {
      rerender: insert !== null,
      onSaved(data) {
        if (insert) return;
        const step = data.state.steps.find((s) => s.id === data.step);
        addStepNode(step, step.position || position);
      },
    })
      .then((data) => selectNewStep(data.step, focusPanel))
      .catch(refused);
  }

  // A new step opens its settings at once: it usually needs some.
  function selectNewStep(stepId, focusPanel) {
    const nodeId = nodeOfStep.get(stepId);
    if (nodeId === undefined) return;
    markSelected(nodeId);
    selectStep(stepId, focusPanel);
  }

  function addStepAtCentre(type, focusPanel = false) {
    const rect = els.canvas.getBoundingClientRect();
    const centre = canvasPoint(rect.left + rect.width / 2, rect.top + rect.height / 2);
    createStep(type, freeSpot(centredOn(centre)), null, focusPanel);
  }

  // The free place nearest to `wanted` (a card's top left), searched ring by ring on a grid.
  function freeSpot(wanted) {
    const height = 150; // a new card, with the problems an empty step lists
    const boxes = [...nodes.keys()].map(nodeElement).map((el) => ({
      x: el.offsetLeft,
      y: el.offsetTop,
      w: el.offsetWidth,
      h: el.offsetHeight,
    }));
    const isFree = (x, y) =>
      boxes.every(
        (b) =>
          x + NODE_WIDTH + NODE_GAP <= b.x ||
          b.x + b.w + NODE_GAP <= x ||
          y + height + NODE_GAP <= b.y ||
          b.y + b.h + NODE_GAP <= y,
      );
    for (let ring = 0; ring <= 30; ring += 1) {
      const cells = [];
      for (let i = -ring; i <= ring; i += 1) {
        for (let j = -ring; j <= ring; j += 1) {
          if (Math.max(Math.abs(i), Math.abs(j)) === ring) cells.push([i, j]);
        }
      }
      cells.sort((a, b) => Math.hypot(a[0], a[1]) - Math.hypot(b[0], b[1]));
      for (const [i, j] of cells) {
        const x = wanted.x + i * (NODE_WIDTH + NODE_GAP);
        const y = wanted.y + j * (height + NODE_GAP);
        if (isFree(x, y)) return { x, y };
      }
    }
    return wanted;
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
    drawEdgeButtons();
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

  let askedAbout = null; // the step the open delete dialog asks about

  // Always asked; a step between two others may also be deleted with its path kept whole.
  function requestDelete(stepId) {
    if (!canEdit()) return;
    const incoming = state.connections.filter((c) => c.target === stepId).length;
    const outgoing = state.connections.filter((c) => c.source === stepId).length;
    askHowToDelete(stepId, incoming >= 1 && outgoing === 1);
  }

  function askHowToDelete(stepId, canReconnect) {
    const dialog = els.deleteDialog;
    const nameSlot = dialog.querySelector("[data-step-name]");
    if (nameSlot) nameSlot.textContent = stepName(stepId);
    for (const el of dialog.querySelectorAll("[data-reconnect]")) el.hidden = !canReconnect;
    dialog.returnValue = "";
    askedAbout = stepId;
    dialog.showModal();
    dialog.querySelector("button:not([hidden])").focus();
  }

  // The dialog's answer. Its "close" event comes a moment after it closed, so the one of an
  // earlier answer (Escape) can arrive after it was opened again: that is not this answer.
  function onDialogClose() {
    const dialog = els.deleteDialog;
    if (dialog.open || askedAbout === null) return;
    const stepId = askedAbout;
    askedAbout = null;
    if (dialog.returnValue === "reconnect" || dialog.returnValue === "delete") {
      deleteStep(stepId, dialog.returnValue === "reconnect");
    } else {
      focusStep(stepId);
    }
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
      .then((data) => {
        offerUndo(data.undo, name);
        els.undoBar.querySelector("[data-undo]").focus();
      })
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
    const card = event.target.closest(".drawflow-node");
    if (card && event.target === card) {
      onCardKey(event, card.dataset.stepId);
      return;
    }
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

  // The selected card's × and the "+" on links: ours, not the start of a Drawflow drag.
  function interceptButtons(event) {
    const card = event.target.closest(".step-delete");
    const plus = event.target.closest(".edge-insert");
    if (!card && !plus) return;
    event.stopPropagation();
    event.preventDefault();
    if (card) requestDelete(card.closest(".drawflow-node").dataset.stepId);
    else openInsertMenu(plus);
  }

  // ---- keyboard -------------------------------------------------------------------------
  // A focused card: arrows move to the connected steps, Enter opens its settings, Delete
  // asks to delete it.

  function onCardKey(event, stepId) {
    const moves = {
      ArrowDown: () => nextSteps(stepId)[0],
      ArrowUp: () => previousSteps(stepId)[0],
      ArrowLeft: () => besideStep(stepId, -1),
      ArrowRight: () => besideStep(stepId, 1),
    };
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      markSelected(nodeOfStep.get(stepId));
      selectStep(stepId, true);
    } else if (Object.hasOwn(moves, event.key)) {
      event.preventDefault();
      const to = moves[event.key]();
      if (to) focusStep(to);
    } else if ((event.key === "Delete" || event.key === "Backspace") && canEdit()) {
      event.preventDefault();
      requestDelete(stepId);
    }
  }

  function portOrder(link) {
    const step = state.steps.find((s) => s.id === link.source);
    return step ? step.outputs.indexOf(link.label ?? null) : 0;
  }

  function nextSteps(stepId) {
    return state.connections
      .filter((c) => c.source === stepId)
      .sort((a, b) => portOrder(a) - portOrder(b))
      .map((c) => c.target);
  }

  function previousSteps(stepId) {
    return state.connections.filter((c) => c.target === stepId).map((c) => c.source);
  }

  // The path beside this one under the same step (a branch's other side).
  function besideStep(stepId, offset) {
    const parent = previousSteps(stepId)[0];
    if (parent === undefined) return undefined;
    const row = nextSteps(parent);
    return row[row.indexOf(stepId) + offset];
  }

  function focusStep(stepId) {
    const nodeId = nodeOfStep.get(stepId);
    if (nodeId === undefined) return;
    const el = nodeElement(nodeId);
    el.focus({ preventScroll: true });
    reveal(el);
  }

  // Pan (never zoom) so the card is inside the visible canvas.
  function reveal(el) {
    const box = el.getBoundingClientRect();
    const view = editor.container.getBoundingClientRect();
    const shift = (low, high, min, max) => (low < min ? min - low : high > max ? max - high : 0);
    const dx = shift(box.left, box.right, view.left + FIT_MARGIN, view.right - FIT_MARGIN);
    const dy = shift(box.top, box.bottom, view.top + TOOLBAR_SPACE, view.bottom - FIT_MARGIN);
    if (dx || dy) setView(editor.zoom, editor.canvas_x + dx, editor.canvas_y + dy);
  }

  // Escape in a step's panel goes back to its card.
  function onPanelKey(event) {
    if (event.key !== "Escape" || selectedStepId === null) return;
    focusStep(selectedStepId);
  }

  // The panel's "Connect to…": the selected step's path to a step chosen by name.
  function onConnectClick(event) {
    const button = event.target.closest("[data-connect-button]");
    if (!button || !canEdit() || selectedStepId === null) return;
    const box = button.closest("[data-connect]");
    const target = box.querySelector("[data-connect-target]").value;
    const port = box.querySelector("[data-connect-port]");
    const link = { source: selectedStepId, target, label: port ? port.value : null };
    edit("POST", "/connections", link)
      .then(() => showMessage(`Connected ${stepName(link.source)} to ${stepName(target)}.`, "info"))
      .catch(refused);
  }

  // ---- inserting on a link --------------------------------------------------------------

  const edgeLinks = new WeakMap(); // "+" button -> the link it sits on
  let insertAt = null; // the link the open insert menu is for

  function linkOfSvg(svg) {
    const classes = [...svg.classList];
    const out = classes.find((c) => c.startsWith("node_out_node-"));
    const into = classes.find((c) => c.startsWith("node_in_node-"));
    const port = classes.find((c) => c.startsWith("output_"));
    if (!out || !into || !port) return null;
    const from = nodes.get(out.slice("node_out_node-".length));
    const to = nodes.get(into.slice("node_in_node-".length));
    if (!from || !to) return null;
    return { source: from.stepId, target: to.stepId, label: from.outputs[portIndex(port)] ?? null };
  }

  function drawEdgeButtons() {
    const buttons = [];
    if (canEdit()) {
      for (const svg of editor.precanvas.querySelectorAll("svg.connection")) {
        const link = linkOfSvg(svg);
        const path = svg.querySelector("path.main-path");
        if (!link || !path || !path.getAttribute("d")) continue;
        const middle = path.getPointAtLength(path.getTotalLength() / 2);
        const button = document.createElement("button");
        button.type = "button";
        button.className = "edge-insert";
        button.textContent = "+";
        button.title = "Insert a step here";
        button.setAttribute("aria-label", `Insert a step between ${stepName(link.source)} and ${stepName(link.target)}`);
        button.style.left = middle.x + "px";
        button.style.top = middle.y + "px";
        edgeLinks.set(button, link);
        buttons.push(button);
      }
    }
    edgeLayer.replaceChildren(...buttons);
  }

  function openInsertMenu(button) {
    insertAt = edgeLinks.get(button);
    const menu = els.insertMenu;
    const items = Object.entries(kinds).map(([type, kind]) => {
      const item = document.createElement("li");
      const choice = document.createElement("button");
      choice.type = "button";
      choice.dataset.insertType = type;
      choice.textContent = kind.label;
      choice.style.setProperty("--step-color", kind.colour);
      item.append(choice);
      return item;
    });
    menu.replaceChildren(...items);
    const wrap = menu.parentElement.getBoundingClientRect();
    const at = button.getBoundingClientRect();
    menu.style.left = Math.round(at.right - wrap.left + 4) + "px";
    menu.style.top = Math.round(at.top - wrap.top) + "px";
    menu.hidden = false;
    menu.querySelector("button").focus();
  }

  function closeInsertMenu() {
    if (els.insertMenu.hidden) return;
    els.insertMenu.hidden = true;
    insertAt = null;
  }

  function onInsertMenuClick(event) {
    const choice = event.target.closest("[data-insert-type]");
    if (!choice || !insertAt) return;
    const link = insertAt;
    closeInsertMenu();
    // The menu that had the focus is gone: the new step's settings take it, as from the palette.
    createStep(choice.dataset.insertType, null, link, true);
  }

  function onInsertMenuKey(event) {
    if (event.key === "Escape") {
      closeInsertMenu();
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    event.preventDefault();
    const choices = [...els.insertMenu.querySelectorAll("button")];
    const at = choices.indexOf(document.activeElement);
    const next = (at + (event.key === "ArrowDown" ? 1 : choices.length - 1)) % choices.length;
    choices[next].focus();
  }

  // The link under a dropped palette item, if it was let go on (or next to) one.
  function linkAt(clientX, clientY) {
    const offsets = [[0, 0], [EDGE_HIT, 0], [-EDGE_HIT, 0], [0, EDGE_HIT], [0, -EDGE_HIT]];
    for (const [dx, dy] of offsets) {
      for (const el of document.elementsFromPoint(clientX + dx, clientY + dy)) {
        if (el.matches(".edge-insert")) return edgeLinks.get(el);
        if (el.matches("path.main-path")) return linkOfSvg(el.closest("svg"));
      }
    }
    return null;
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
    showZoom();
  }

  function showZoom() {
    if (els.zoom) els.zoom.textContent = Math.round(editor.zoom * 100) + "%";
  }

  // The wheel scrolls the canvas (Ctrl + wheel still zooms, as Drawflow does).
  function onWheel(event) {
    if (event.ctrlKey) return;
    event.preventDefault();
    const dx = event.shiftKey && !event.deltaX ? event.deltaY : event.deltaX;
    const dy = event.shiftKey && !event.deltaX ? 0 : event.deltaY;
    setView(editor.zoom, editor.canvas_x - dx, editor.canvas_y - dy);
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
      (height - TOOLBAR_SPACE - FIT_MARGIN) / (bottom - top),
    );
    const zoom = Math.max(READABLE_ZOOM, Math.min(1, fit));
    // The canvas scales around its centre (CSS default transform-origin): a canvas point p
    // is drawn at translate + centre + zoom * (p - centre).
    const offset = (screen, point, centre) => screen - centre - zoom * (point - centre);
    const fitsAcross = (right - left) * zoom <= width - 2 * FIT_MARGIN;
    const fitsDown = (bottom - top) * zoom <= height - TOOLBAR_SPACE - FIT_MARGIN;
    // What does not fit starts at its top (or left) edge, and the rest is a scroll away.
    const x = fitsAcross
      ? offset(width / 2, (left + right) / 2, width / 2)
      : offset(FIT_MARGIN, left, width / 2);
    const y = fitsDown
      ? offset((height + TOOLBAR_SPACE - FIT_MARGIN) / 2, (top + bottom) / 2, height / 2)
      : offset(TOOLBAR_SPACE, top, height / 2);
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
        addStepAtCentre(item.dataset.stepType, true);
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
      const link = linkAt(event.clientX, event.clientY);
      if (link) createStep(type, null, link);
      else createStep(type, centredOn(canvasPoint(event.clientX, event.clientY)));
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
  editor.on("zoom", showZoom);
  // While a card is dragged its links follow it; their "+" buttons are drawn again after.
  editor.on("mouseMove", () => {
    if (editor.drag) edgeLayer.replaceChildren();
  });
  editor.on("connectionCreated", onConnectionCreated);
  editor.on("connectionRemoved", onConnectionRemoved);
  els.canvas.addEventListener("mousedown", interceptButtons, true);
  els.canvas.addEventListener("touchstart", interceptButtons, true);
  els.canvas.addEventListener("wheel", onWheel, { passive: false });
  els.insertMenu.addEventListener("click", onInsertMenuClick);
  els.insertMenu.addEventListener("keydown", onInsertMenuKey);
  els.insertMenu.addEventListener("focusout", (event) => {
    if (!els.insertMenu.contains(event.relatedTarget)) closeInsertMenu();
  });
  els.panel.addEventListener("keydown", onPanelKey);
  els.panel.addEventListener("click", onConnectClick);
  els.toolbar.addEventListener("click", onToolbarClick);
  els.deleteDialog.addEventListener("click", onDialogClick);
  els.deleteDialog.addEventListener("close", onDialogClose);
  els.undoBar.querySelector("[data-undo]").addEventListener("click", undoDelete);
  document.body.addEventListener("pm-graph", onGraphEvent);
  // The panels' autosave waits for this before posting (it needs the version it returns).
  window.BuilderCanvas = { idle: () => sending };
  setUpPalette();
  setUpHtmx();
  setUpVariablePicker();
  if (!config.editable) {
    const layoutButton = els.toolbar.querySelector('[data-canvas="layout"]');
    if (layoutButton) layoutButton.disabled = true;
  }

  renderGraph();
  fitView();
  drawEdgeButtons();
})();
