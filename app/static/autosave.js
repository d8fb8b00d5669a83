/* The builder's settings panels save themselves: a short pause after the last edit, the
 * form is posted exactly as its Save button would (same URL, same server validation, the
 * same answer: the form again, with inline errors or "All changes saved").
 *
 * Nothing typed is lost:
 * - an answer is not swapped in when the user typed again meanwhile (the next save answers
 *   for both), and the focused field keeps the text as typed (the server may trim it);
 * - before another panel replaces this one (another step clicked), builder.js calls
 *   `PanelAutosave.leave()`: pending edits are saved first; edits the server refuses
 *   (a required field emptied) keep their form as typed, and `restore(url)` puts it back
 *   when that step is opened again, where the save is retried to show the errors;
 * - leaving the page with edits still unsaved asks first (beforeunload).
 */
"use strict";

(function () {
  const PAUSE_MS = 800;
  const panelBody = document.getElementById("panel-body");
  if (!panelBody) return;

  const kept = new Map(); // panel URL -> a form whose edits were refused, as typed
  let timer = null;
  let edits = 0; // edits made to the open panel
  let sent = 0; // edits included in the last save sent
  let saving = Promise.resolve(true); // the save in flight: true when it was accepted
  let inFlight = 0;
  let focused = null; // {id, value, start, end} of the focused field while a save is swapped

  function openForm() {
    return panelBody.querySelector("form[data-autosave]");
  }

  function urlOf(form) {
    return form.getAttribute("hx-post");
  }

  function showState(form, text, state) {
    const el = form && form.querySelector("[data-save-state]");
    if (!el) return;
    el.textContent = text;
    el.dataset.state = state;
  }

  // A field of an autosaving form changed (preview choices and `_` helpers are not settings).
  function onEdit(event) {
    const field = event.target;
    const form = field.form;
    if (!form || !form.matches("#panel-body form[data-autosave]")) return;
    if (!field.name || field.name.startsWith("preview.") || field.name.startsWith("_")) return;
    edited(form);
  }

  function edited(form) {
    edits += 1;
    showState(form, "Unsaved changes", "dirty");
    clearTimeout(timer);
    timer = setTimeout(() => save(form, "outerHTML"), PAUSE_MS);
  }

  // A button changed the settings by itself (a block added, moved or removed): the server
  // answers the changed form, unsaved, marked `data-pending-save`; it is saved as an edit.
  function onSwapped() {
    const form = openForm();
    if (!form || !form.hasAttribute("data-pending-save")) return;
    form.removeAttribute("data-pending-save");
    edited(form);
  }

  // The Save button (or Enter) posts the form itself: those edits are on their way.
  function onSubmit(event) {
    const form = event.target;
    if (!form.matches("form[data-autosave]")) return;
    const submitter = event.submitter;
    if (submitter && submitter.name === "_op") return;
    clearTimeout(timer);
    sent = edits;
  }

  /* One save after the other; `swap` "none" when the panel is being left. Resolves true when
   * the server accepted the edits. */
  function save(form, swap) {
    clearTimeout(timer);
    const run = () => {
      if (!form.isConnected && swap !== "none") return true;
      sent = edits;
      inFlight += 1;
      showState(form, "Saving…", "saving");
      let accepted = false;
      const onSwap = (event) => {
        if (event.detail.elt !== form) return;
        const trigger = event.detail.xhr.getResponseHeader("HX-Trigger") || "";
        accepted = event.detail.xhr.status === 200 && trigger.includes("pm-graph");
        if (edits !== sent) event.detail.shouldSwap = false; // typed meanwhile
        else rememberFocus(form);
      };
      document.body.addEventListener("htmx:beforeSwap", onSwap);
      return htmx
        .ajax("POST", urlOf(form), { source: form, target: form, swap })
        .catch(() => false)
        .then(() => accepted)
        .finally(() => {
          document.body.removeEventListener("htmx:beforeSwap", onSwap);
          inFlight -= 1;
          restoreFocus();
        });
    };
    // A canvas request in flight changes the version this save must carry: wait for it.
    const canvasIdle = () => (window.BuilderCanvas ? window.BuilderCanvas.idle() : null);
    saving = saving.then(canvasIdle, canvasIdle).then(run);
    return saving;
  }

  function rememberFocus(form) {
    const field = document.activeElement;
    focused = null;
    if (!field || !field.id || !form.contains(field) || !("value" in field)) return;
    const typed = { id: field.id, value: field.value };
    if (typeof field.selectionStart === "number") {
      typed.start = field.selectionStart;
      typed.end = field.selectionEnd;
    }
    focused = typed;
  }

  // htmx gives the new field focus and the caret back; the text is the user's, as typed.
  function restoreFocus() {
    const typed = focused;
    focused = null;
    if (!typed) return;
    const field = document.getElementById(typed.id);
    if (!field || field.value === typed.value) return;
    field.value = typed.value;
    if (typed.start !== undefined && document.activeElement === field) {
      field.setSelectionRange(typed.start, typed.end);
    }
  }

  function isDirty() {
    return edits !== sent;
  }

  /* Before the open panel is replaced: save what is pending. Resolves with the step key
   * (or "settings") of a panel whose edits were refused and are kept, else null. */
  function leave() {
    const form = openForm();
    clearTimeout(timer);
    if (!form) return saving.then(() => null);
    const pending = isDirty() ? save(form, "none") : saving;
    return pending.then((accepted) => {
      edits = 0;
      sent = 0;
      if (accepted) return null;
      kept.set(urlOf(form), form);
      return form.dataset.step || "settings";
    });
  }

  // The kept form of this panel, back as typed; its save is tried again to show the errors.
  function restore(url) {
    const form = kept.get(url);
    if (!form) return false;
    kept.delete(url);
    panelBody.replaceChildren(form);
    edits = 1;
    sent = 0;
    save(form, "outerHTML");
    return true;
  }

  /* Before a canvas edit (builder.js): pending edits are posted now rather than after the
   * pause, and the edit waits for the save in flight. Both carry the sequence's version, so
   * sent side by side the second would be refused as a conflict. */
  function flush() {
    const form = openForm();
    if (form && isDirty()) return save(form, "outerHTML");
    return saving;
  }

  function onBeforeUnload(event) {
    if (!isDirty() && inFlight === 0 && kept.size === 0) return;
    event.preventDefault();
    event.returnValue = "";
  }

  panelBody.addEventListener("input", onEdit); // selects and boxes fire it too
  panelBody.addEventListener("submit", onSubmit, true);
  document.body.addEventListener("htmx:afterSettle", onSwapped);
  window.addEventListener("beforeunload", onBeforeUnload);
  window.PanelAutosave = { leave, restore, isDirty, flush };
})();
