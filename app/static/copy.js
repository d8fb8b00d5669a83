/* "Copy" buttons: `data-copy` names the text box whose text goes to the clipboard. */
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const box = document.getElementById(button.dataset.copy);
  box.select();
  const done = () => {
    button.textContent = "Copied";
    setTimeout(() => {
      button.textContent = "Copy";
    }, 1500);
  };
  const fallback = () => {
    document.execCommand("copy");
    done();
  };
  if (navigator.clipboard) navigator.clipboard.writeText(box.value).then(done, fallback);
  else fallback();
});
