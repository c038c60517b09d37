import { describe, expect, it } from 'vitest';
import { type Catalogue, en } from '../../src/client/i18n/en.js';
import { it as italian } from '../../src/client/i18n/it.js';
import { pt } from '../../src/client/i18n/pt.js';
import { ru } from '../../src/client/i18n/ru.js';
import { zh } from '../../src/client/i18n/zh.js';
import { useBrowserAndServer } from './harness.js';
import { englishFragments, leaks, pageWords } from './leaks.js';

const e2e = useBrowserAndServer();

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
      const other = await e2e.open('bob', { locale });
      await other.signIn();
      const c = await e2e.open('alice', { locale });
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
      e2e.watch.assertClean();
    });
  }

  it('switching language in the UI translates the page at once and is remembered', async () => {
    const c = await e2e.open('carol');
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
    e2e.watch.assertClean();
  });
});
