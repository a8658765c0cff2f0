// Opens the demo chat page in two headless Chromium tabs that nginx serves
// from different workers, joins one session in both with the agent, sends a
// message from the first tab and waits in both tabs for the message and for
// the agent's reply.  A MutationObserver in each tab records how the reply's
// line grew, to show that it was streamed.  Prints one JSON line with what
// it saw and exits 0 when the message and a streamed reply reached both.
//
// Usage: node chat_page.mjs http://127.0.0.1:PORT/chat/ SESSION TOKEN

import { chromium } from "playwright-core";

const [pageUrl, session, token] = process.argv.slice(2);
const MAX_TABS = 8;
const WAIT_MS = 15000;

// Without these flags Chromium keeps trying hosts that a closed network
// refuses, and as root it needs --no-sandbox.
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync"],
});

async function openTab() {
  const page = await browser.newPage();
  await page.goto(`${pageUrl}?session=${session}#token=${token}`);
  await page.waitForSelector('#status[data-state="open"]', { timeout: WAIT_MS });
  const status = await page.textContent("#status");
  return { page, worker: status.match(/worker (\d+)/)[1] };
}

const result = { ok: false, workers: [], received: [], replies: [], growth: [] };

// Records each text the agent's line shows, in the page.
function watchReplies() {
  window.replyTexts = [];
  new MutationObserver(() => {
    const line = document.querySelector("li[data-stream-id]");
    if (line && window.replyTexts.at(-1) !== line.textContent) {
      window.replyTexts.push(line.textContent);
    }
  }).observe(document.getElementById("messages"),
             { childList: true, subtree: true, characterData: true });
}

try {
  const first = await openTab();
  let second = null;

  for (let i = 0; i < MAX_TABS && second === null; i++) {
    const tab = await openTab();
    if (tab.worker !== first.worker) {
      second = tab;
    } else {
      await tab.page.close();
    }
  }

  if (second === null) {
    throw new Error(`every tab landed on worker ${first.worker}`);
  }

  result.workers = [first.worker, second.worker];

  for (const tab of [first, second]) {
    await tab.page.click('#session-form button[type="submit"]');
    await tab.page.waitForSelector("#send:not([disabled])", { timeout: WAIT_MS });
  }

  for (const tab of [first, second]) {
    await tab.page.evaluate(watchReplies);
  }

  const text = "Olá do navegador";
  await first.page.fill("#message", text);
  await first.page.click("#send");

  for (const tab of [first, second]) {
    const item = await tab.page.waitForSelector("li.message", { timeout: WAIT_MS });
    result.received.push(await item.textContent());
  }

  for (const tab of [first, second]) {
    const reply = await tab.page.waitForSelector("li.message.assistant",
                                                 { timeout: WAIT_MS });
    result.replies.push(await reply.textContent());
    result.growth.push(await tab.page.evaluate(() => window.replyTexts.length));
  }

  // a tab without a token is rejected at the handshake and shows it
  const anonymous = await browser.newPage();
  await anonymous.goto(`${pageUrl}?session=${session}`);
  await anonymous.waitForSelector('#status[data-state="closed"]', { timeout: WAIT_MS });
  result.anonymous = await anonymous.textContent("#status");

  result.ok = result.anonymous.startsWith("Sem acesso")
    && result.received.every((line) => line.endsWith(text))
    && result.replies.every((line) => line.length > "assistant: ".length)
    && result.replies[0] === result.replies[1]
    && result.growth.every((n) => n > 2);
} catch (error) {
  result.error = String(error);
} finally {
  await browser.close();
}

console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
