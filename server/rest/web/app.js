// The Datalid web page: photos (chosen, dropped or taken with the camera) go to the REST API,
// POST /v1/process:upload with the photo as the body, two at a time; each result shows the date,
// whether it has expired, and the annotated picture the server drew. No dependencies, no build.
"use strict";

const UPLOAD = "/v1/process:upload";
// Photos read at once: the server batches them; more would only queue there.
const AT_ONCE = 2;
const KEY_STORAGE = "datalid-api-key";

const $ = (id) => document.getElementById(id);
const queue = [];
let running = 0;
let total = 0;
let done = 0;
let cameraShots = 0;

function enumWord(value, prefix) {
  // DATE_KIND_EXPIRY -> "expiry"
  return String(value || "").replace(prefix, "").replaceAll("_", " ").toLowerCase();
}

function expiryText(best) {
  const days = Number(best.days_until_expiry);
  if (best.is_expired) {
    return `EXPIRED ${-days} day${days === -1 ? "" : "s"} ago`;
  }
  if (days === 0) {
    return "expires today";
  }
  return `${days} day${days === 1 ? "" : "s"} left`;
}

function setProgress() {
  $("progress").hidden = total === 0;
  $("progress-text").hidden = total === 0;
  $("progress").max = total;
  $("progress").value = done;
  $("progress-text").textContent = done < total ? `Reading: ${done} of ${total} photos done` : `${done} of ${total} photos read`;
}

function newCard(name, file) {
  const card = $("result-template").content.firstElementChild.cloneNode(true);
  card.dataset.state = "reading";
  card.querySelector(".name").textContent = name;
  card.querySelector(".date").textContent = "reading…";
  const picture = card.querySelector(".picture");
  picture.src = URL.createObjectURL(file);
  picture.alt = `the photo ${name}`;
  $("results").prepend(card);
  return card;
}

function showResult(card, result) {
  const best = result.best_date;
  const picture = card.querySelector(".picture");
  if (result.visualization_jpeg) {
    URL.revokeObjectURL(picture.src);
    picture.src = `data:image/jpeg;base64,${result.visualization_jpeg}`;
    picture.alt = "the photo with the boxes where the date was found";
  }
  const seconds = (Number(result.timings?.total_ms || 0) / 1000).toFixed(2);
  if (!best) {
    card.dataset.state = "no-date";
    card.querySelector(".date").textContent = "no date found";
    card.querySelector(".detail").textContent = `${enumWord(result.status, "PROCESS_STATUS_")}, ${seconds} s`;
    return;
  }
  card.dataset.state = best.is_expired ? "expired" : "fresh";
  card.classList.add(best.is_expired ? "expired" : "fresh");
  card.querySelector(".date").textContent = best.date;
  card.querySelector(".expiry").textContent = expiryText(best);
  const kind = enumWord(best.kind, "DATE_KIND_");
  const confidence = Math.round(Number(best.confidence) * 100);
  card.querySelector(".detail").textContent = `${kind} date, read "${best.text}" (${confidence}% sure), ${seconds} s`;
}

function showError(card, message) {
  card.dataset.state = "failed";
  card.classList.add("failed");
  card.querySelector(".date").textContent = "not read";
  card.querySelector(".detail").textContent = message;
}

async function read(file) {
  const params = new URLSearchParams({ "options.return_visualization": "true" });
  const reference = $("reference-date").value;
  if (reference) {
    params.set("options.reference_date", reference);
  }
  const headers = { "content-type": file.type || "application/octet-stream" };
  const key = $("api-key").value.trim();
  if (key) {
    headers["x-api-key"] = key;
  }
  const response = await fetch(`${UPLOAD}?${params}`, { method: "POST", headers, body: file });
  // Every answer, errors included, is JSON (a google.rpc.Status for errors).
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const hint = response.status === 401 ? " (enter an API key above)" : "";
    throw new Error(`${body.message || response.statusText || "error"}${hint} [HTTP ${response.status}]`);
  }
  return body;
}

function pump() {
  while (running < AT_ONCE && queue.length > 0) {
    const { file, card } = queue.shift();
    running += 1;
    read(file)
      .then((result) => showResult(card, result))
      .catch((error) => showError(card, error.message))
      .finally(() => {
        running -= 1;
        done += 1;
        setProgress();
        pump();
      });
  }
}

function add(files) {
  for (const file of files) {
    const card = newCard(file.name || "photo", file);
    queue.push({ file, card });
    total += 1;
  }
  setProgress();
  pump();
}

function setUpDrop() {
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    add([...event.dataTransfer.files].filter((file) => file.type.startsWith("image/")));
  });
  $("files").addEventListener("change", (event) => {
    add([...event.target.files]);
    event.target.value = "";
  });
}

function setUpCamera() {
  const video = $("camera-video");
  let stream = null;
  const close = () => {
    if (stream) {
      stream.getTracks().forEach((track) => track.stop());
      stream = null;
    }
    $("camera").hidden = true;
  };
  $("camera-open").addEventListener("click", async () => {
    if (!navigator.mediaDevices?.getUserMedia) {
      alert("This browser gives no camera to pages that are not served over https or from localhost.");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (error) {
      alert(`No camera: ${error.message}`);
      return;
    }
    video.srcObject = stream;
    $("camera").hidden = false;
  });
  $("camera-shoot").addEventListener("click", () => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      cameraShots += 1;
      add([new File([blob], `camera-${cameraShots}.jpg`, { type: "image/jpeg" })]);
    }, "image/jpeg", 0.92);
  });
  $("camera-close").addEventListener("click", close);
}

function setUpSettings() {
  const key = $("api-key");
  key.value = sessionStorage.getItem(KEY_STORAGE) || "";
  key.addEventListener("change", () => sessionStorage.setItem(KEY_STORAGE, key.value.trim()));
}

setUpSettings();
setUpDrop();
setUpCamera();
