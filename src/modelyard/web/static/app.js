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
  // A flash message ("Training started.") comes in ?msg=: shown by this view only, then taken
  // out of the address, so the reload when a job ends (or the reader's) does not show it again.
  const here = new URL(window.location.href);
  if (here.searchParams.has("msg")) {
    here.searchParams.delete("msg");
    window.history.replaceState(window.history.state, "", here.toString());
  }
  document.querySelectorAll("[data-progress-url]").forEach((section) => {
    if (section.dataset.done !== "true") pollProgress(section);
  });
});

// --- the projection scatter: a point's tooltip, its neighbours outlined, the colouring switch.

function setupScatter(wrap) {
  const svg = wrap.querySelector("svg.scatter");
  const tip = wrap.querySelector(".tooltip");
  const source = document.getElementById("projection-neighbours");
  if (!svg || !tip) return;
  let neighbours = [];
  try {
    neighbours = JSON.parse(source ? source.textContent : "[]");
  } catch (error) {
    neighbours = [];
  }
  const production = new Map();
  svg.querySelectorAll('circle[data-source="production"]').forEach((c) => production.set(c.dataset.i, c));
  const fields = ["class", "confidence", "prediction"];
  let marked = [];

  const line = (text, className) => {
    const div = document.createElement("div");
    div.textContent = text;
    if (className) div.className = className;
    tip.appendChild(div);
  };
  const clear = () => {
    marked.forEach((c) => c.classList.remove("neighbour", "active"));
    marked = [];
  };
  const show = (point) => {
    clear();
    tip.replaceChildren();
    const isProduction = point.dataset.source === "production";
    line(isProduction ? "Request " + point.dataset.request : "Training sample point " + point.dataset.i, "tip-title");
    fields.forEach((name) => {
      if (point.dataset[name] !== undefined) line(name + ": " + point.dataset[name], "tip-" + name);
    });
    point.classList.add("active");
    marked.push(point);
    if (isProduction) {
      const near = (neighbours[Number(point.dataset.i)] || []).map((j) => production.get(String(j))).filter(Boolean);
      near.forEach((c) => { c.classList.add("neighbour"); marked.push(c); });
      if (near.length) {
        const names = near.slice(0, 5).map((c) => "request " + c.dataset.request + (c.dataset.class !== undefined ? " (" + c.dataset.class + ")" : ""));
        line("Nearest: " + names.join(", ") + (near.length > 5 ? ", …" : ""), "tip-neighbours");
      } else {
        line("Nearest: no other production points", "tip-neighbours");
      }
    }
    tip.hidden = false;
    const box = wrap.getBoundingClientRect();
    const dot = point.getBoundingClientRect();
    let left = dot.left - box.left + dot.width + 8;
    if (left + tip.offsetWidth > box.width) left = Math.max(0, dot.left - box.left - tip.offsetWidth - 8);
    tip.style.left = left + "px";
    tip.style.top = Math.max(0, dot.top - box.top - 8) + "px";
  };
  const hide = () => {
    clear();
    tip.hidden = true;
  };
  const pointOf = (event) => (event.target instanceof Element ? event.target.closest("circle.pt") : null);
  svg.addEventListener("mouseover", (event) => { const p = pointOf(event); if (p) show(p); else hide(); });
  svg.addEventListener("focusin", (event) => { const p = pointOf(event); if (p) show(p); });
  svg.addEventListener("mouseleave", hide);
  svg.addEventListener("focusout", hide);

  document.querySelectorAll('input[name="colouring"]').forEach((input) => {
    input.addEventListener("change", () => {
      if (!input.checked) return;
      const key = "fill" + input.value.charAt(0).toUpperCase() + input.value.slice(1);
      svg.querySelectorAll("circle.pt").forEach((c) => {
        if (c.dataset[key]) c.setAttribute("fill", c.dataset[key]);
      });
      svg.dataset.colouring = input.value;
      document.querySelectorAll("[data-legend]").forEach((legend) => {
        legend.hidden = legend.dataset.legend !== input.value;
      });
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".scatter-wrap").forEach(setupScatter);
});
