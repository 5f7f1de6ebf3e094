// Type-aware lint for the whole project. Layering (lib/ imports none of the others; rtp/ and sip/
// import lib/ and never src/ nor each other; src/ reaches rtp/ and sip/ only through their
// index.ts) is enforced with no-restricted-imports below.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const deepImport = (layer) => ({
  group: [`**/${layer}/*`, `!**/${layer}/index.js`],
  message: `src/ uses ${layer}/ only through ${layer}/index.ts`,
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'data/**', '.test-runs/**', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      curly: ['error', 'all'],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The primitives every layer shares (Clock, Logger): they depend on none of the layers.
    files: ['lib/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/src/**', '**/src'], message: 'lib/ never imports src/' },
            { group: ['**/sip/**', '**/sip'], message: 'lib/ never imports sip/' },
            { group: ['**/rtp/**', '**/rtp'], message: 'lib/ never imports rtp/' },
          ],
        },
      ],
    },
  },
  {
    files: ['sip/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/src/**', '**/src'], message: 'sip/ never imports src/' },
            {
              group: ['**/rtp/**', '**/rtp'],
              message: 'sip/ hands src/ a media description; it does not use rtp/',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['rtp/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/src/**', '**/src'], message: 'rtp/ never imports src/' },
            { group: ['**/sip/**', '**/sip'], message: 'rtp/ knows nothing of SIP' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [deepImport('rtp'), deepImport('sip')] }],
    },
  },
  {
    // The CLI and the test/bench harnesses may print to the terminal.
    files: ['src/cli/**/*.ts', 'src/cli.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.mjs'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: globals.node,
    },
  },
);
