import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Catalogue, en } from '../../src/client/i18n/en.js';
import { it as italian } from '../../src/client/i18n/it.js';
import { pt } from '../../src/client/i18n/pt.js';
import { ru } from '../../src/client/i18n/ru.js';
import { zh } from '../../src/client/i18n/zh.js';
import { type App, Client, ConsoleWatch, launchBrowser, type OpenOptions, startApp } from './harness.js';
import { englishFragments, leaks, pageWords } from './leaks.js';

let browser: Browser;
let app: App | null = null;
let watch: ConsoleWatch;
const clients: Client[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser.close();
});
beforeEach(() => {
  watch = new ConsoleWatch();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  await app?.close();
  app = null;
});

async function open(name: string, opts: OpenOptions = {}): Promise<Client> {
  app ??= await startApp();
  const c = await Client.open(browser, app, name, watch, opts);
  clients.push(c);
  return c;
}

const LANGS: { code: string; locale: string; cat: Catalogue }[] = [
  { code: 'pt', locale: 'pt-BR', cat: pt },
  { code: 'it', locale: 'it-IT', cat: italian },
  { code: 'zh', locale: 'zh-CN', cat: zh },
  { code: 'ru', locale: 'ru-RU', cat: ru },
];

describe('languages', () => {
  for (const { code, locale, cat } of LANGS) {
    it(`${code}: chosen from the browser; sign-in and room views are fully translated`, async () => {
      const fragments = englishFragments(cat);
      const other = await open('bob', { locale });
      await other.signIn();
      const c = await open('alice', { locale });
      await expect.poll(() => c.page.evaluate(() => document.documentElement.lang)).toMatch(new RegExp(`^${code}`));
      await c.page.getByText(cat['signIn.name']).waitFor();
      expect(leaks(await pageWords(c.page), fragments)).toEqual([]);
      await c.signIn();
      await c.waitForMember('bob');
      await c.page.getByRole('heading', { name: cat['nav.rooms'] }).waitFor();
      await expect(c.member('bob').getByRole('button').first().getAttribute('aria-label')).resolves.toBe(
        (cat['member.message']).replace('{name}', 'bob'),
      );
      await c.send('olá, ciao, 你好, привет');
      await expect.poll(() => c.texts()).toContain('olá, ciao, 你好, привет');
      expect(leaks(await pageWords(c.page), fragments)).toEqual([]);
      // Cyrillic, not Chinese: the test machine has no CJK fonts, so a zh screenshot shows boxes.
      if (code === 'ru') await c.screenshot('room-chat-ru');
      watch.assertClean();
    });
  }

  it('switching language in the UI translates the page at once and is remembered', async () => {
    const c = await open('carol');
    await c.page.getByRole('button', { name: en['signIn.submit'] }).waitFor();
    await c.page.getByLabel(en['settings.language']).selectOption('ru');
    await c.page.getByRole('button', { name: ru['signIn.submit'] }).waitFor();
    await c.page.getByLabel(ru['signIn.name']).waitFor();
    await c.signIn();
    await expect(c.page.getByTestId('connection').textContent()).resolves.toBe(ru['status.connected']);
    // The sidebar has the picker too; Italian from there.
    await c.page.locator('#sidebar-language').selectOption('it');
    await c.page.getByRole('heading', { name: italian['nav.rooms'] }).waitFor();
    expect(leaks(await pageWords(c.page), englishFragments(italian))).toEqual([]);
    // Remembered: a reload (same session) comes back in Italian.
    await c.page.reload();
    await c.page.getByRole('heading', { name: italian['nav.rooms'] }).waitFor();
    await expect(c.page.evaluate(() => localStorage.getItem('parley.lang'))).resolves.toBe('it');
    // And back to English.
    await c.page.locator('#sidebar-language').selectOption('en');
    await c.page.getByRole('heading', { name: en['nav.rooms'] }).waitFor();
    await expect(c.page.getByTestId('connection').textContent()).resolves.toBe(en['status.connected']);
    watch.assertClean();
  });
});
