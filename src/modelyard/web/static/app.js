// modelyard dashboard: copy buttons, confirmations, and live progress bars. No libraries.
"use strict";

document.addEventListener("click", (event) => {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return;
  const copyId = target.dataset.copy;
  if (copyId) {
    const input = document.getElementById(copyId);
    if (input instanceof HTMLInputElement) {
      input.select();
      const done = () => { target.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, () => { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
    }
  }
  if (target.dataset.confirm && !window.confirm(target.dataset.confirm)) {
    event.preventDefault();
  }
  if (target.hasAttribute("data-back") && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});

function pollProgress(section) {
  const url = section.dataset.progressUrl;
  const bar = section.querySelector(".bar");
  const fill = section.querySelector(".bar .fill");
  const text = section.querySelector(".bar span");
  const tick = () => {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((data) => {
        const percent = Math.round((data.progress || 0) * 100);
        fill.className = "fill";
        fill.style.width = percent + "%";
        text.textContent = percent + "%";
        bar.setAttribute("aria-valuenow", String(percent));
        const state = section.querySelector('[data-field="job_state"]');
        state.textContent = data.job_state;
        state.className = "state state-" + data.job_state.toLowerCase();
        section.querySelector('[data-field="status"]').textContent = data.status;
        section.querySelector('[data-field="message"]').textContent = data.done ? "" : data.message || "";
        if (data.done) {
          // The metrics, matrix and model links are drawn by the server: show them.
          window.location.reload();
        } else {
          window.setTimeout(tick, 1000);
        }
      })
      .catch(() => window.setTimeout(tick, 3000));
  };
  window.setTimeout(tick, 500);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-progress-url]").forEach((section) => {
    if (section.dataset.done !== "true") pollProgress(section);
  });
});
