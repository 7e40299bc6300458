/** How `meshca server`'s refusals name its settings: the flag, and the variable where an operator is as likely to have set it. */
import type { SettingNames } from '../ca/setting-names.js';
import { envName } from '../config/options.js';
import { SERVER_OPTIONS } from '../config/server-config.js';

const flag = (option: keyof typeof SERVER_OPTIONS) => `--${SERVER_OPTIONS[option].name}`;
const flagOrVariable = (option: keyof typeof SERVER_OPTIONS) => `${flag(option)}, or ${envName('MESHCA', SERVER_OPTIONS[option].name)}`;

export const CLI_SETTING_NAMES: SettingNames = Object.freeze({
  svidMaxTtl: flagOrVariable('svidMaxTtl'),
  trustDomain: flag('trustDomain'),
});
