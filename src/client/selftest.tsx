import { effect } from '@preact/signals';
import { render } from 'preact';
import { I18n } from './i18n/I18n.js';
import { SelfTest } from './selftest/SelfTest.js';
import { SelfTestView } from './selftest/SelfTestView.js';
import './ui/styles.css';
import './selftest/selftest.css';

/**
 * The connectivity self-test page (/selftest): a separate entry, so the app's first load carries
 * none of it. It shares the language choice with the app and needs no sign-in (GET /api/ice).
 */
const i18n = new I18n({ storage: localStorage, preferred: navigator.languages });
await i18n.init();
effect(() => {
  document.title = `${i18n.t('selftest.title')} · Parley`;
});
const test = new SelfTest();
render(<SelfTestView test={test} i18n={i18n} />, document.getElementById('app')!);
void test.run();
