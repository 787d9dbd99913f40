// Approves a gate the way a person does in the Temporal UI: opens the workflow page,
// More Actions -> Send a Signal -> approve, types the JSON payload, submits. Used by
// `make ui-check` to prove that the UI lists zdm's signals and that an approve sent from it
// moves the gate. Usage: node approve-in-ui.js WORKFLOW_ID GATE BY [UI_URL]
const { chromium } = require('playwright-core');

const [workflowId, gate, by, ui = 'http://127.0.0.1:8233'] = process.argv.slice(2);
if (!workflowId || !gate || !by) {
  console.error('usage: node approve-in-ui.js WORKFLOW_ID GATE BY [UI_URL]');
  process.exit(2);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`${ui}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`, { waitUntil: 'load' });
  await page.getByRole('button', { name: 'More Actions' }).first().click();
  await page.locator('text=Send a Signal >> visible=true').first().click();
  await page.locator('[data-testid=signal-select-button] >> visible=true').first().click();
  const listed = await page.locator('li[role=option] span >> visible=true').allInnerTexts();
  console.log('signals listed by the UI:', listed.join(', '));
  for (const want of ['approve', 'reject', 'pause', 'resume']) {
    if (!listed.includes(want)) throw new Error(`the UI does not list signal ${want}`);
  }
  await page.locator('li[role=option]:has(span:text-is("approve")) >> visible=true').first().click();
  await page.locator('.cm-content >> visible=true').first().click();
  // The editor closes braces itself: type the body, then remove its extra brace.
  await page.keyboard.type(JSON.stringify({ gate, by, comment: 'sent from the Temporal UI' }));
  await page.keyboard.press('Delete');
  const submit = page.locator('button:has-text("Submit") >> visible=true');
  for (let i = 0; i < 3 && (await submit.count()) > 0; i++) {
    await submit.first().click();
    await page.waitForTimeout(1000);
  }
  if ((await submit.count()) > 0) throw new Error('the Send a Signal dialog did not close');
  await page.screenshot({ path: process.env.SCREENSHOT || '/tmp/zdm-ui-approve.png' });
  await browser.close();
  console.log(`approve {"gate": "${gate}", "by": "${by}"} sent from the UI`);
})().catch((e) => { console.error(e.message || e); process.exit(1); });
